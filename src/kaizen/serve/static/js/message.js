// One chat message: its text (the user's as plain text, the assistant's as sanitised Markdown),
// the "< 2/3 >" switcher between alternatives, and its actions, which show on hover or keyboard
// focus (on touch screens: on the last answer, or the message tapped). `on` holds the chat's
// callbacks: switchTo, edit, regenerate, rate, reason, choose, copy. An answer made by a prompting
// strategy names it in a badge and shows its reasoning folded under the text.

import {fillMarkdown} from "./markdown.js";
import {h, icon} from "./ui.js";

const BADGES = {length: "cut off at max tokens", cancelled: "stopped", content_filter: "filtered"};

// The message's text element; `data-source` keeps the exact text it shows (tests and copy read it).
function body(m) {
  if (m.role !== "assistant") return h("div", {class: "msg-text plain", dataset: {source: m.content}}, m.content);
  return fillMarkdown(h("div", {class: "msg-text markdown", dataset: {source: m.content}}), m.content);
}

// A strategy's chain of thought, vote or ReAct transcript, through the same sanitising Markdown
// renderer as answers (`data-source` keeps the exact text), and the samples a vote or the reward
// model chose from (as plain text).
function reasoning(record) {
  if (!record || !record.reasoning) return null;
  const samples = record.candidates || [];
  return h("details", {class: "reasoning"}, h("summary", {}, "Reasoning"),
    fillMarkdown(h("div", {class: "reasoning-text markdown", dataset: {source: record.reasoning}}), record.reasoning),
    samples.length > 1 ? h("details", {class: "candidates"}, h("summary", {}, `${samples.length} samples`),
      h("ol", {}, samples.map((c) => h("li", {},
        h("span", {class: "candidate-text"}, c.text),
        h("span", {class: "muted"}, [c.answer ? ` answer: ${c.answer}` : "", c.score != null ? ` · score ${c.score.toFixed(3)}` : ""]))))) : null);
}

export function renderMessage(tree, m, on, busy) {
  const siblings = tree.siblings(m);
  const index = siblings.findIndex((s) => s.id === m.id);
  const text = body(m);
  const strategy = (m.meta || {}).kaizen;
  const el = h("article", {class: `msg ${m.role}`, tabindex: "-1", dataset: {id: m.id, role: m.role}},
    h("div", {class: "msg-card"}, h("div", {class: "msg-head"},
      h("span", {class: "role"}, m.role === "user" ? "You" : "Assistant"),
      m.role === "assistant" && m.model ? h("span", {class: "model-name", title: "Model that wrote this answer"}, m.model) : null,
      siblings.length > 1 ? switcher(siblings, index, on, busy) : null,
      m.source === "human" ? h("span", {class: "badge"}, "written by you") : null,
      BADGES[m.finish_reason] ? h("span", {class: "badge warn"}, BADGES[m.finish_reason]) : null,
      m.role === "assistant" && m.chosen && siblings.length > 1 ? h("span", {class: "badge good"}, "kept") : null,
      strategy ? h("span", {class: "badge strategy", title: "Prompting strategy that made this answer"}, strategy.strategy) : null),
    text, reasoning(strategy)));
  const actions = h("div", {class: "msg-actions", role: "toolbar", "aria-label": "Message actions"});
  const editor = () => edit(el, text, m, on);
  actions.append(action("copy", "Copy", "Copy the text", () => on.copy(m), false));
  if (m.role === "user") {
    actions.append(action("edit", "Edit", "Edit and send again (a new branch)", editor, busy));
    if (!tree.hasAnswer(m)) {
      actions.append(h("button", {class: "ghost", onclick: () => on.regenerate(m.id), disabled: busy}, "Generate answer"));
    }
  } else {
    const value = m.rating ? m.rating.value : 0;
    actions.append(
      thumb("up", 1, value, m, on, busy),
      thumb("down", -1, value, m, on, busy),
      action("regenerate", "Regenerate", "Sample another answer", () => on.regenerate(m.parent_id), busy),
      action("edit", "Edit", "Write the answer you wanted", editor, busy));
    if (siblings.length > 1 && !m.chosen) {
      actions.append(h("button", {class: "ghost", onclick: () => on.choose(m), disabled: busy,
                                  title: "Mark this alternative as the better one"}, "Keep this one"));
    }
  }
  el.append(actions);
  if (m.rating) el.append(reasonRow(m, on));
  return el;
}

function action(iconName, label, title, onclick, disabled) {
  return h("button", {class: `ghost act ${iconName}`, type: "button", "aria-label": label, title, onclick, disabled},
           icon(iconName));
}

function switcher(siblings, index, on, busy) {
  const go = (i) => on.switchTo(siblings[i]);
  return h("span", {class: "switcher"},
    h("button", {class: "ghost", "aria-label": "Previous alternative", disabled: busy || index === 0,
                 onclick: () => go(index - 1)}, "<"),
    h("span", {class: "pos"}, `${index + 1}/${siblings.length}`),
    h("button", {class: "ghost", "aria-label": "Next alternative", disabled: busy || index === siblings.length - 1,
                 onclick: () => go(index + 1)}, ">"));
}

function thumb(name, value, current, m, on, busy) {
  const active = current === value;
  return h("button", {class: `ghost act thumb ${name}${active ? " active" : ""}`, "aria-pressed": String(active),
                      "aria-label": value > 0 ? "Good answer" : "Bad answer", title: value > 0 ? "Good answer" : "Bad answer",
                      disabled: busy, onclick: () => on.rate(m, active ? 0 : value)}, icon(name));
}

function reasonRow(m, on) {
  const input = h("input", {class: "reason-input", value: m.rating.reason || "", maxlength: 4000,
                            "aria-label": "Reason for your rating",
                            placeholder: m.rating.value > 0 ? "What was good? (optional)" : "What was wrong? (optional)"});
  const save = () => on.reason(m, input.value.trim());
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") save(); });
  return h("div", {class: "reason"}, input, h("button", {class: "small", onclick: save}, "Save reason"),
           m.rating.reason ? h("span", {class: "muted saved"}, "saved") : null);
}

// Replace the text with an editor; saving sends the new text as a sibling (a new branch).
function edit(el, text, m, on) {
  const area = h("textarea", {class: "edit-box", rows: Math.min(12, m.content.split("\n").length + 2), value: m.content,
                              "aria-label": m.role === "user" ? "Edit your message" : "Your answer"});
  const cancel = () => { form.replaceWith(text); el.classList.remove("editing"); };
  const form = h("div", {class: "editor"}, area,
    h("div", {class: "row"},
      h("button", {class: "primary small", onclick: () => {
        if (area.value.trim()) on.edit(m, area.value);
      }}, m.role === "user" ? "Save & submit" : "Save my answer"),
      h("button", {class: "small", onclick: cancel}, "Cancel")));
  el.classList.add("editing");
  text.replaceWith(form);
  area.focus();
}

// The answer being streamed: each delta extends `data-source`, and the Markdown is repainted once
// per animation frame (however many deltas arrived in it).
export function streamingMessage(model) {
  let source = "";
  let queued = false;
  const text = h("div", {class: "msg-text markdown", dataset: {source: ""}});
  const typing = h("span", {class: "typing"}, "writing…");
  const el = h("article", {class: "msg assistant streaming", dataset: {role: "assistant"}, "aria-busy": "true"},
    h("div", {class: "msg-card"}, h("div", {class: "msg-head"}, h("span", {class: "role"}, "Assistant"),
      model ? h("span", {class: "model-name"}, model) : null, typing),
    text));
  const paint = () => {
    queued = false;
    fillMarkdown(text, source);
  };
  return {
    el,
    // a strategy answers only when it is done: say what it is doing meanwhile
    thinking(strategy) { typing.textContent = `thinking (${strategy})…`; },
    append(s) {
      source += s;
      text.dataset.source = source;
      if (!queued) {
        queued = true;
        requestAnimationFrame(paint);
      }
    },
  };
}
