// The JSON API of docs/serve-api.md: credentials, requests, SSE streams and authenticated downloads.
//
//   import * as api from "./api.js";
//   const me = await api.requireLogin();              // redirects to login.html when signed out
//   const {conversations} = await api.get("/api/conversations");
//   for await (const ev of api.stream("/api/conversations/ID/messages", {content: "Hi"})) ...

const TOKEN = "kaizen.token";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.type = error.type;
    this.code = error.code;
    this.param = error.param;
  }
}

// The login token (or a pasted API key): localStorage when "keep me signed in", else this tab only.
export function token() {
  return sessionStorage.getItem(TOKEN) || localStorage.getItem(TOKEN);
}

export function setToken(value, remember) {
  clearToken();
  (remember ? localStorage : sessionStorage).setItem(TOKEN, value);
}

// A new token for the same sign-in (a password change answers one and ends the old sessions):
// kept where the old one was, so "keep me signed in" still holds.
export function renewToken(value) {
  if (value) setToken(value, localStorage.getItem(TOKEN) !== null);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN);
  localStorage.removeItem(TOKEN);
}

function headers(extra = {}) {
  const t = token();
  return t ? {...extra, Authorization: `Bearer ${t}`} : extra;
}

function toLogin() {
  const next = location.pathname + location.search + location.hash;
  location.replace(`login.html?next=${encodeURIComponent(next)}`);
}

async function failure(res) {
  let error = {message: `${res.status} ${res.statusText}`};
  try {
    error = (await res.json()).error || error;
  } catch (_) { /* not JSON: keep the status line */ }
  if (res.status === 429) {
    const wait = res.headers.get("Retry-After");
    if (wait) error.message += ` (retry in ${wait}s)`;
  }
  return new ApiError(res.status, error);
}

// A JSON request; rejects with ApiError (and goes to the login page on 401 unless quiet401).
export async function request(method, path, body, {signal, quiet401 = false} = {}) {
  const init = {method, signal, headers: headers(body === undefined ? {} : {"Content-Type": "application/json"})};
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (!res.ok) {
    const err = await failure(res);
    if (res.status === 401 && !quiet401) {
      clearToken();
      toLogin();
    }
    throw err;
  }
  return res.json();
}

export const get = (path, opts) => request("GET", path, undefined, opts);
export const post = (path, body = {}, opts) => request("POST", path, body, opts);
export const put = (path, body, opts) => request("PUT", path, body, opts);
export const patch = (path, body, opts) => request("PATCH", path, body, opts);
export const del = (path, opts) => request("DELETE", path, undefined, opts);

// POST and read a `text/event-stream` answer: yields each `data:` event as an object.
// A JSON answer (an error found before generation, or a non-stream reply) is thrown or yielded once.
// Aborting `signal` closes the connection, which stops generation on the server.
export async function* stream(path, body, signal) {
  const res = await fetch(path, {method: "POST", signal, body: JSON.stringify(body),
                                 headers: headers({"Content-Type": "application/json", Accept: "text/event-stream"})});
  if (!res.ok) {
    const err = await failure(res);
    if (res.status === 401) { clearToken(); toLogin(); }
    throw err;
  }
  if (!(res.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    yield {type: "json", body: await res.json()};
    return;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data && data !== "[DONE]") yield JSON.parse(data);
    }
  }
}

// Fetch with the credential and save the answer as a file (a plain link could not send the header).
export async function download(path, filename) {
  const res = await fetch(path, {headers: headers()});
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The signed-in user (with `has_password`), or a redirect to the login page. Pages that need a
// role check it with ui.page(), which tells a user without it instead of redirecting.
const RANK = {user: 0, labeler: 1, admin: 2};

export async function requireLogin() {
  if (!token()) {
    toLogin();
    return new Promise(() => {});  // the page is being replaced
  }
  const me = await get("/api/me");
  return {...me.user, has_password: me.has_password};
}

export const hasRole = (user, role) => RANK[user.role] >= RANK[role];

export async function logout() {
  try {
    await post("/api/logout", {}, {quiet401: true});
  } catch (_) { /* already signed out */ }
  clearToken();
  location.replace("login.html");
}
