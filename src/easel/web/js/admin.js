// The Admin page (administrators only): organizations, members, credit grants, users.
// Every action is a call to easel's /admin API, which refuses anyone else with a 403.

import * as api from "./api.js";
import { credits, el, errorBox, field, formatDate, select, showError } from "./ui.js";

const ROLES = ["MEMBER", "ADMIN", "OWNER"];

function form(label, controls, onSubmit, errors) {
  const node = el("form", { class: "row" }, ...controls, el("button", { type: "submit" }, label));
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(errors, null);
    try {
      await onSubmit();
      node.reset();
    } catch (error) {
      showError(errors, error);
    }
  });
  return node;
}

export async function renderAdmin(main) {
  const errors = errorBox();
  const orgs = el("div");
  const detail = el("section", { "aria-live": "polite" });
  main.replaceChildren(el("h1", {}, "Admin"), errors, el("h2", {}, "Organizations"), orgs, detail);

  const orgName = el("input", { name: "org_name", maxlength: 200 });
  const email = el("input", { name: "user_email", type: "email" });
  const userAdmin = el("input", { type: "checkbox", name: "user_admin" });

  async function loadOrgs() {
    const list = await api.get("/admin/organizations");
    const rows = list.map((org) =>
      el(
        "tr",
        {},
        el("td", {}, el("button", { type: "button", class: "link", onclick: () => showOrg(org).catch((error) => showError(errors, error)) }, org.name)),
        el("td", {}, el("code", {}, org.id)),
        el("td", {}, String(org.members)),
        el("td", {}, credits(org.credits)),
        el("td", {}, formatDate(org.created_at)),
      ),
    );
    orgs.replaceChildren(
      el(
        "div",
        { class: "table-scroll" },
        el("table", {}, el("tr", {}, ["Name", "Id", "Members", "Credits", "Created"].map((h) => el("th", { scope: "col" }, h))), rows),
      ),
      form("Create organization", [field("Organization name", orgName)], async () => {
        await api.post("/admin/organizations", { json: { name: orgName.value } });
        await loadOrgs();
      }, errors),
      el("h2", {}, "Users"),
      form(
        "Create user",
        [field("Email", email), el("label", { class: "check" }, userAdmin, " Administrator")],
        async () => {
          const user = await api.post("/admin/users", { json: { email: email.value, is_admin: userAdmin.checked } });
          detail.replaceChildren(el("p", { role: "status" }, `Created user ${user.email} (${user.id}).`));
        },
        errors,
      ),
    );
  }

  async function showOrg(org) {
    const members = await api.get(`/admin/organizations/${org.id}/members`);
    const statement = await api.get(`/admin/organizations/${org.id}/credits?limit=10`);
    const user = el("input", { name: "member_user" });
    const role = select("role", ROLES, "MEMBER");
    const amount = el("input", { name: "grant_credits", type: "number", step: "any" });
    const note = el("input", { name: "grant_note", maxlength: 500 });
    detail.replaceChildren(
      el("h2", {}, org.name),
      el("p", {}, "Available: ", el("strong", { class: "org-credits" }, credits(statement.available)), " credits"),
      el("h3", {}, "Members"),
      el(
        "ul",
        { class: "members" },
        members.map((m) => el("li", {}, `${m.email} · ${m.role}${m.is_default ? " · default" : ""}`)),
      ),
      form("Add member", [field("User id or email", user), field("Role", role)], async () => {
        await api.post(`/admin/organizations/${org.id}/members`, { json: { user: user.value, role: role.value } });
        await loadOrgs();
        await showOrg(org);
      }, errors),
      el("h3", {}, "Credits"),
      form("Grant credits", [field("Credits", amount), field("Note", note)], async () => {
        await api.post(`/admin/organizations/${org.id}/credits`, { json: { credits: Number(amount.value), note: note.value } });
        await loadOrgs();
        await showOrg(org);
      }, errors),
      el(
        "ul",
        { class: "ledger" },
        statement.ledger.map((e) => el("li", {}, `${formatDate(e.created_at)} · ${e.kind} ${credits(e.credits)} → ${credits(e.balance_after)} ${e.note}`)),
      ),
    );
  }

  try {
    await loadOrgs();
  } catch (error) {
    showError(errors, error);
  }
}
