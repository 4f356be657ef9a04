// The Account page: balance, credits spent per day, and the user's own API keys.

import * as api from "./api.js";
import { credits, el, errorBox, field, formatDate, showError } from "./ui.js";

const DAYS = 14;

// A bar chart as SVG, with the numbers also in a table for screen readers.
function chart(days) {
  const width = 560;
  const height = 160;
  const most = Math.max(1, ...days.map((d) => d.credits));
  const bar = width / days.length;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 20}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("aria-hidden", "true");
  days.forEach((day, i) => {
    const h = (day.credits / most) * height;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", String(i * bar + 2));
    rect.setAttribute("y", String(height - h));
    rect.setAttribute("width", String(bar - 4));
    rect.setAttribute("height", String(Math.max(h, day.credits ? 1 : 0)));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${day.day}: ${credits(day.credits)} credits`;
    rect.append(title);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(i * bar + bar / 2));
    label.setAttribute("y", String(height + 15));
    label.setAttribute("text-anchor", "middle");
    label.textContent = day.day.slice(8);
    svg.append(rect, label);
  });
  const table = el(
    "table",
    { class: "visually-hidden" },
    el("caption", {}, `Credits spent per day, last ${DAYS} days`),
    el("tr", {}, el("th", { scope: "col" }, "Day"), el("th", { scope: "col" }, "Credits")),
    days.map((d) => el("tr", {}, el("td", {}, d.day), el("td", {}, credits(d.credits)))),
  );
  return el("figure", { class: "chart-box" }, svg, table, el("figcaption", {}, `Credits spent per day (UTC), last ${DAYS} days`));
}

export async function renderAccount(main, { onKeyRevoked }) {
  const errors = errorBox();
  const balance = el("p", { class: "balance" });
  const spend = el("div");
  const keys = el("div");
  main.replaceChildren(el("h1", {}, "Account"), errors, el("h2", {}, "Balance"), balance, spend, el("h2", {}, "API keys"), keys);

  async function load() {
    try {
      const [account, money, days, list] = await Promise.all([
        api.get("/v1/user/account"),
        api.get("/v1/user/balance"),
        api.get(`/v1/user/credits/daily?days=${DAYS}`),
        api.get("/v1/user/keys"),
      ]);
      balance.replaceChildren(
        el("span", { id: "balance" }, credits(money.credits)),
        ` credits available to ${account.email}`,
      );
      spend.replaceChildren(chart(days));
      keys.replaceChildren(keyTable(list), createForm());
    } catch (error) {
      showError(errors, error);
    }
  }

  function keyTable(list) {
    const current = api.apiKey() || "";
    const rows = list.map((key) => {
      const revoke = el("button", { type: "button", disabled: Boolean(key.revoked_at) }, "Revoke");
      revoke.setAttribute("aria-label", `Revoke key ${key.prefix}`);
      revoke.addEventListener("click", async () => {
        try {
          await api.del(`/v1/user/keys/${key.id}`);
          if (current.startsWith(key.prefix)) onKeyRevoked();
          else load();
        } catch (error) {
          showError(errors, error);
        }
      });
      return el(
        "tr",
        { "data-key": key.id },
        el("td", {}, el("code", {}, `${key.prefix}…`), current.startsWith(key.prefix) ? " (this tab)" : ""),
        el("td", {}, key.name || "–"),
        el("td", {}, formatDate(key.created_at)),
        el("td", {}, formatDate(key.last_used_at)),
        el("td", {}, key.revoked_at ? `revoked ${formatDate(key.revoked_at)}` : revoke),
      );
    });
    return el(
      "div",
      { class: "table-scroll" },
      el(
        "table",
        { class: "keys" },
        el(
          "tr",
          {},
          ["Key", "Name", "Created", "Last used"].map((h) => el("th", { scope: "col" }, h)),
          el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Action")),
        ),
        rows,
      ),
    );
  }

  function createForm() {
    const name = el("input", { name: "key_name", maxlength: 200 });
    const form = el(
      "form",
      { class: "row" },
      field("New key name", name),
      el("button", { type: "submit" }, "Create key"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const created = await api.post("/v1/user/keys", { json: { name: name.value } });
        await load();
        // shown once: the server keeps only a hash
        const shown = el("output", { class: "new-key" }, created.secret);
        keys.append(
          el("div", { class: "secret", role: "status" }, el("p", {}, "Your new key — copy it now, it is not shown again:"), shown),
        );
      } catch (error) {
        showError(errors, error);
      }
    });
    return form;
  }

  await load();
}
