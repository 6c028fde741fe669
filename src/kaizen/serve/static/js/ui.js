// DOM helpers shared by the pages. Text is only ever inserted as text nodes: `h` has no way to
// parse HTML, so model output, user messages and task text cannot become markup or run script.

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

// The top bar: brand, the pages this user may open, who is signed in, sign out.
export function nav(user, current) {
  const pages = [["index.html", "Chat", "user"], ["label.html", "Labeling", "labeler"], ["admin.html", "Admin", "admin"]];
  const links = pages.filter(([, , role]) => api.hasRole(user, role)).map(([href, label]) =>
    h("a", {href, class: href === current ? "active" : null, "aria-current": href === current ? "page" : null}, label));
  const bar = h("header", {class: "topbar"},
    h("a", {class: "brand", href: "index.html"}, "Kaizen"),
    h("nav", {}, links),
    h("span", {class: "spacer"}),
    h("span", {class: "who", id: "who"}, `${user.name} · ${user.role}`),
    h("button", {class: "link", id: "logout", onclick: () => api.logout()}, "Sign out"));
  document.body.prepend(bar);
}

// A transient message in the corner (click to dismiss); errors stay longer.
export function toast(message, kind = "info") {
  let box = $("#toasts");
  if (!box) document.body.append(box = h("div", {id: "toasts", role: "status", "aria-live": "polite"}));
  const item = h("div", {class: `toast ${kind}`, onclick: () => item.remove()}, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 12000 : 4000);
}

export const showError = (e) => toast(e instanceof Error ? e.message : String(e), "error");

// One turn of a task's prompt: its role, then its text.
export function turn(m) {
  return h("div", {class: `turn ${m.role}`}, h("span", {class: "role"}, m.role), h("div", {class: "turn-text"}, m.content));
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}

// Just enough Markdown for the labeling guidelines: headings, lists, paragraphs, **bold**, *italic*.
export function markdown(text) {
  const root = h("div", {class: "markdown"});
  let list = null;
  let para = [];
  const flush = () => {
    if (para.length) root.append(h("p", {}, inline(para.join(" "))));
    para = [];
  };
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    const item = /^\s*[-*]\s+(.*)$/.exec(line);
    if (heading) {
      flush(); list = null;
      root.append(h(`h${Math.min(heading[1].length + 1, 5)}`, {}, inline(heading[2])));
    } else if (item) {
      flush();
      if (!list) root.append(list = h("ul"));
      list.append(h("li", {}, inline(item[1])));
    } else if (!line.trim()) {
      flush(); list = null;
    } else if (list && /^\s+/.test(raw)) {
      list.lastChild.append(" ", ...inline(line.trim()));
    } else {
      list = null;
      para.push(line.trim());
    }
  }
  flush();
  return root;
}

function inline(text) {
  const out = [];
  const re = /\*\*(.+?)\*\*|\*(.+?)\*/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    out.push(text.slice(last, m.index));
    out.push(m[1] !== undefined ? h("strong", {}, m[1]) : h("em", {}, m[2]));
    last = re.lastIndex;
  }
  out.push(text.slice(last));
  return out;
}
