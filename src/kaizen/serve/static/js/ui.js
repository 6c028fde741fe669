// DOM helpers shared by the pages. Text is only ever inserted as text nodes: `h` has no way to
// parse HTML, so model output, user messages and task text cannot become markup or run script.
// (Markdown is the one way markup is made, in markdown.js, through DOMPurify.)

import * as api from "./api.js";

// h("button", {class: "x", onclick: fn, disabled: true}, "Send", childNode, [more, children])
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A small inline SVG icon (static path data only).
const ICONS = {
  up: "M2 10h3v9H2zM7 19h9.5a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 18 8h-5l.8-3.6A1.8 1.8 0 0 0 12 2L7 9z",
  down: "M22 14h-3V5h3zM17 5H7.5a2 2 0 0 0-2 1.6l-1.4 7A2 2 0 0 0 6 16h5l-.8 3.6A1.8 1.8 0 0 0 12 22l5-7z",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  edit: "M4 20h4L19 9l-4-4L4 16zM14 6l4 4",
  regenerate: "M20 12a8 8 0 1 1-2.34-5.66M20 4v5h-5",
  menu: "M4 6h16M4 12h16M4 18h16",
};

export function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

// The signed-in user with the top bar, on a page that needs at least `role`; someone with a
// lesser role is told so on the page (not silently sent elsewhere) and the page stops there.
export async function page(role, current) {
  const user = await api.requireLogin();
  nav(user, current);
  if (!api.hasRole(user, role)) {
    denied(user, role);
    return new Promise(() => {});
  }
  return user;
}

function denied(user, role) {
  const [href, label] = api.hasRole(user, "labeler") ? ["label.html", "Go to labeling"] : ["index.html", "Go to chat"];
  for (const el of [...document.body.children]) if (!el.classList.contains("topbar")) el.remove();
  document.body.append(h("main", {class: "denied", id: "denied"},
    h("h1", {}, `${role === "admin" ? "Admins" : "Labelers"} only`),
    h("p", {}, `This page is for the ${role} role. You are signed in as ${user.name} (${user.role}); `,
      `an admin can change your role on the admin page.`),
    h("p", {}, h("a", {class: "button primary", href}, label))));
}

// The top bar: brand, the pages this user may open, who is signed in (a menu: password, sign out).
export function nav(user, current) {
  const pages = [["index.html", "Chat", "user"], ["label.html", "Labeling", "labeler"], ["admin.html", "Admin", "admin"]];
  const links = pages.filter(([, , role]) => api.hasRole(user, role)).map(([href, label]) =>
    h("a", {href, class: href === current ? "active" : null, "aria-current": href === current ? "page" : null}, label));
  const menu = accountMenu(user);
  const who = h("button", {class: "who", id: "who", type: "button", "aria-haspopup": "dialog", "aria-expanded": "false",
                           "aria-controls": "account-menu", title: "Account"},
    h("span", {class: "who-name"}, user.name), h("span", {class: "who-role"}, ` · ${user.role}`));
  const toggle = (open = menu.hidden) => {
    menu.hidden = !open;
    who.setAttribute("aria-expanded", String(open));
    if (open) menu.querySelector("input:not([hidden]), button")?.focus();
  };
  who.addEventListener("click", () => toggle());
  document.addEventListener("click", (e) => { if (!menu.hidden && !menu.contains(e.target) && !who.contains(e.target)) toggle(false); });
  menu.addEventListener("keydown", (e) => { if (e.key === "Escape") { toggle(false); who.focus(); } });
  const bar = h("header", {class: "topbar"},
    h("a", {class: "brand", href: "index.html"}, "Kaizen"),
    h("nav", {"aria-label": "Pages"}, links),
    h("span", {class: "spacer"}),
    h("span", {class: "account"}, who, menu),
    h("button", {class: "link", id: "logout", onclick: () => api.logout()}, "Sign out"));
  document.body.prepend(bar);
}

function accountMenu(user) {
  const old = h("input", {type: "password", id: "old-password", autocomplete: "current-password"});
  const fresh = h("input", {type: "password", id: "new-password", minlength: 8, required: true, autocomplete: "new-password"});
  const status = h("p", {class: "muted", role: "status"});
  const oldLabel = h("label", {}, "Current password", old);
  oldLabel.hidden = user.has_password === false;
  const form = h("form", {class: "password-form"},
    oldLabel, h("label", {}, user.has_password === false ? "Choose a password (8+ characters)" : "New password", fresh),
    h("button", {type: "submit", class: "primary small"}, user.has_password === false ? "Set password" : "Change password"),
    status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const reply = await api.post("/api/me/password", {old_password: old.value, new_password: fresh.value}, {quiet401: true});
      api.renewToken(reply.token);
      status.textContent = `Password saved: sign in as ${user.name} with it from now on.`;
      form.reset();
      oldLabel.hidden = false;
    } catch (err) {
      status.textContent = err.message;
    }
  });
  const menu = h("div", {class: "account-menu", id: "account-menu", role: "dialog", "aria-label": "Account"},
    h("p", {}, "Signed in as ", h("strong", {}, user.name), ` (${user.role})`),
    user.has_password === false ? h("p", {class: "hint"}, "You have no password yet: set one to sign in without a link or key.") : null,
    form,
    h("button", {class: "wide", type: "button", onclick: () => api.logout()}, "Sign out"));
  menu.hidden = true;
  return menu;
}

// A message in the corner, dismissed by its × (or Escape); it goes by itself after a few seconds
// (errors a little later), waits while the pointer is on it, and at most three are shown.
export function toast(message, kind = "info", ms = kind === "error" ? 8000 : 4000) {
  let box = $("#toasts");
  if (!box) {
    document.body.append(box = h("div", {id: "toasts", "aria-live": "polite"}));
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") clearToasts(); });
  }
  const close = h("button", {type: "button", class: "toast-close", "aria-label": "Dismiss"}, "×");
  const item = h("div", {class: `toast ${kind}`, role: kind === "error" ? "alert" : "status"},
    h("span", {class: "toast-text"}, message), close);
  let timer = null;
  const arm = () => { clearTimeout(timer); timer = setTimeout(() => item.remove(), ms); };
  close.addEventListener("click", () => item.remove());
  item.addEventListener("mouseenter", () => clearTimeout(timer));
  item.addEventListener("mouseleave", arm);
  box.append(item);
  while (box.children.length > 3) box.firstChild.remove();
  arm();
  return item;
}

export const clearToasts = () => $("#toasts")?.replaceChildren();

export const showError = (e) => toast(e instanceof Error ? e.message : String(e), "error");

// Put `text` on the clipboard; true if it worked. navigator.clipboard needs a secure context
// (https or localhost); on plain http elsewhere the older execCommand path still works.
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (_) { /* fall back below */ }
  const area = h("textarea", {class: "offscreen", readonly: true, "aria-hidden": "true", value: text});
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (_) { /* nothing more to try */ }
  area.remove();
  return ok;
}

// One turn of a task's prompt: its role, then its text.
export function turn(m) {
  return h("div", {class: `turn ${m.role}`}, h("span", {class: "role"}, m.role), h("div", {class: "turn-text"}, m.content));
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}
