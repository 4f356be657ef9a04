// Small DOM helpers shared by the pages. Text always goes in as text, never as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

let fieldCount = 0;

// A labelled control: <div class=field><label for=id>text</label>control</div>.
export function field(label, control, hint) {
  const id = control.id || `field-${++fieldCount}`;
  control.id = id;
  const parts = [el("label", { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(el("small", { id: hintId, class: "hint" }, hint));
  }
  return el("div", { class: "field" }, ...parts);
}

export function select(name, options, value) {
  const node = el("select", { name });
  for (const option of options) {
    const [optionValue, text] = Array.isArray(option) ? option : [option, option];
    node.append(el("option", { value: optionValue, selected: optionValue === value }, text));
  }
  return node;
}

// Shows an API error as Stability reports it: its name, message and error id.
export function showError(box, error) {
  box.replaceChildren();
  if (!error) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const name = error.errorName || "error";
  box.append(
    el("strong", { class: "error-name" }, name),
    el("span", { class: "error-message" }, ` ${error.message}`),
  );
  if (error.id) box.append(el("span", { class: "error-id" }, ` (error id ${error.id})`));
}

export function errorBox() {
  return el("div", { class: "error", role: "alert", hidden: true });
}

export function formatDate(value) {
  return value ? new Date(value).toLocaleString() : "–";
}

export function credits(value) {
  return Number(value).toLocaleString(undefined, { maximumFractionDigits: 3 });
}

// Revoke blob URLs a page made when it is left, so images do not pile up in memory.
const pageUrls = [];

export function blobUrl(blob) {
  const url = URL.createObjectURL(blob);
  pageUrls.push(url);
  return url;
}

export function releaseBlobUrls() {
  for (const url of pageUrls.splice(0)) URL.revokeObjectURL(url);
}
