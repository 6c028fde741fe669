// Markdown -> DOM, safely. marked (GFM) turns text into HTML, DOMPurify sanitises it into a DOM
// fragment, and only that fragment reaches the page: no HTML string is ever assigned to the DOM.
//
//   el.append(renderMarkdown(answer.content));        // or fillMarkdown(el, text) to repaint el
//
// On top of the sanitiser, three choices make a model's output harmless by construction:
// - raw HTML in the text is shown as text, as ChatGPT does ("<img onerror=...>" stays characters);
// - links must be http(s) or mailto, and open in a new tab without a referrer;
// - images become links: an answer must not make the browser fetch arbitrary URLs.
// Code blocks get a language label, a copy button and highlight.js colours (whose HTML is
// sanitised again, down to <span class>).

import DOMPurify from "../vendor/dompurify/purify.es.js";
import hljs from "../vendor/highlight/highlight.min.js";
import {Marked} from "../vendor/marked/marked.esm.js";
import {copyText, h} from "./ui.js";

const escape = (s) => s.replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);

const marked = new Marked({
  gfm: true,
  renderer: {
    html: ({text, block}) => (block ? `<p>${escape(text)}</p>` : escape(text)),
    image: ({href, text}) => `<a href="${escape(href || "")}">${escape(text || href || "image")}</a>`,
  },
});

const ALLOWED = {
  ALLOWED_TAGS: ["a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "input",
                 "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"],
  ALLOWED_ATTR: ["href", "title", "class", "align", "start", "type", "checked", "disabled"],
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|#)/i,
  RETURN_DOM_FRAGMENT: true,
};
const CODE_ONLY = {ALLOWED_TAGS: ["span"], ALLOWED_ATTR: ["class"], RETURN_DOM_FRAGMENT: true};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    if (node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  } else if (node.tagName === "INPUT") {  // GFM task lists only: a disabled checkbox
    node.setAttribute("type", "checkbox");
    node.setAttribute("disabled", "");
  }
});

// A <div class="markdown"> holding `text` rendered as Markdown. `breaks`: a single newline is a
// line break (models write poems and addresses that way); off for hand-wrapped documents.
export function renderMarkdown(text, {breaks = true} = {}) {
  return fillMarkdown(h("div", {class: "markdown"}), text, {breaks});
}

// Replace the children of `el` with `text` rendered as Markdown (streaming answers repaint this way).
export function fillMarkdown(el, text, {breaks = true} = {}) {
  el.replaceChildren(DOMPurify.sanitize(marked.parse(text, {async: false, breaks}), ALLOWED));
  for (const code of el.querySelectorAll("pre > code")) decorate(code);
  for (const table of el.querySelectorAll("table")) {
    const wrap = h("div", {class: "table-wrap"});
    table.replaceWith(wrap);
    wrap.append(table);
  }
  return el;
}

function decorate(code) {
  const pre = code.parentElement;
  const source = code.textContent;
  const lang = (/(?:^|\s)language-([\w+#.-]+)/.exec(code.className) || [])[1] || "";
  if (lang && hljs.getLanguage(lang)) {
    const html = hljs.highlight(source, {language: lang, ignoreIllegals: true}).value;
    code.replaceChildren(DOMPurify.sanitize(html, CODE_ONLY));
    code.classList.add("hljs");
  }
  const button = h("button", {type: "button", class: "ghost copy-code", "aria-label": "Copy code"}, "Copy");
  button.addEventListener("click", async () => {
    const ok = await copyText(source.replace(/\n$/, ""));
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  const block = h("div", {class: "code-block"},
    h("div", {class: "code-head"}, h("span", {class: "code-lang"}, lang || "text"), button));
  pre.replaceWith(block);
  block.append(pre);
}
