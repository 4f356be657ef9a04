// The studio's shell: sign-in, navigation between pages (by URL hash), sign-out.

import * as api from "./api.js";
import { renderAccount } from "./account.js";
import { renderAdmin } from "./admin.js";
import { renderGallery } from "./gallery.js";
import { renderGenerate } from "./generate.js";
import { errorBox, releaseBlobUrls, showError } from "./ui.js";

const PAGES = {
  generate: renderGenerate,
  gallery: renderGallery,
  account: (main) => renderAccount(main, { onKeyRevoked: signOut }),
  admin: renderAdmin,
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signIn = document.getElementById("sign-in");
const signInErrors = document.getElementById("sign-in-error");
const who = document.getElementById("who");

async function isAdmin() {
  try {
    await api.get("/admin/organizations");
    return true;
  } catch {
    return false;
  }
}

async function show() {
  releaseBlobUrls();
  if (!api.apiKey()) {
    signIn.hidden = false;
    nav.hidden = true;
    main.replaceChildren();
    document.getElementById("api-key").focus();
    return;
  }
  signIn.hidden = true;
  nav.hidden = false;
  const name = location.hash.replace(/^#\//, "") || "generate";
  const page = PAGES[name] ? name : "generate";
  for (const link of nav.querySelectorAll("a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    await PAGES[page](main);
  } catch (error) {
    const box = errorBox();
    main.replaceChildren(box);
    showError(box, error);
    if (error.status === 401) signOut();
  }
  main.focus();
}

function signOut() {
  api.setApiKey(null);
  who.textContent = "";
  location.hash = "";
  show();
}

signIn.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = document.getElementById("api-key").value.trim();
  showError(signInErrors, null);
  try {
    const account = await api.get("/v1/user/account", { key });
    api.setApiKey(key);
    signIn.reset();
    await describe(account);
    if (location.hash !== "#/generate") location.hash = "#/generate";
    else show();
  } catch (error) {
    showError(signInErrors, error);
  }
});

async function describe(account) {
  who.textContent = account.email;
  nav.querySelector("[data-page=admin]").parentElement.hidden = !(await isAdmin());
}

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", show);

if (api.apiKey()) {
  api.get("/v1/user/account").then(describe, () => {});
}
show();
