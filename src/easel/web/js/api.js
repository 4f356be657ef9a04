// The studio's only door to the server: the public HTTP API, with the signed-in key.
// The key lives in this tab's sessionStorage (never a cookie), so it leaves with the tab.

const KEY_STORAGE = "easel.apiKey";

export class ApiError extends Error {
  // Stability's error body: v1 {id, name, message}, v2beta {id, name, errors[]}.
  constructor(status, body) {
    const errors = Array.isArray(body.errors) ? body.errors : [];
    super(body.message || errors.join("; ") || `HTTP ${status}`);
    this.status = status;
    this.id = body.id || "";
    this.errorName = body.name || "error";
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

function headersFor(extra = {}, key = apiKey()) {
  const headers = { ...extra };
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = { name: "error", message: `${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, body);
}

// One call. `json` or `form` is the body; `as` picks how the answer is read ("json",
// "blob" or "response"). Any non-2xx answer throws an ApiError.
export async function call(method, path, options = {}) {
  const { json, form, as = "json", headers = {}, signal, key } = options;
  const init = { method, signal, headers: headersFor(headers, key ?? apiKey()) };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (form !== undefined) {
    init.body = form;
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  if (as === "blob") return response.blob();
  if (as === "response") return response;
  return response.status === 204 ? null : response.json();
}

export const get = (path, options) => call("GET", path, options);
export const post = (path, options) => call("POST", path, options);
export const del = (path, options) => call("DELETE", path, options);

// Server-sent events over fetch: EventSource cannot send an Authorization header.
// Calls onEvent(name, data) per event until the stream ends or `signal` aborts.
export async function followEvents(path, onEvent, signal) {
  const response = await fetch(path, { headers: headersFor(), signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}
