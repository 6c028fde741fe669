// The chat page: conversation list (a drawer on narrow screens), one conversation's visible
// branch, streaming answers, regenerate / edit (new branches), thumbs with reasons, export, a
// model picker when the server serves several models (GET /v1/models), and a prompting-strategy
// picker with what this server can run (GET /api/strategies; docs/prompting.md).

import * as api from "./api.js";
import {renderMessage, streamingMessage} from "./message.js";
import {Tree} from "./tree.js";
import {$, clear, clearToasts, copyText, h, page, showError, toast, when} from "./ui.js";

const SETTINGS = "kaizen.sampling";
const MODEL = "kaizen.model";
const STRATEGY = "kaizen.strategy";
const state = {conv: null, tree: new Tree(), busy: null, models: [], prompting: null};

await page("user", "index.html");
const info = await api.get("/api/info");
state.models = await api.get("/v1/models").then((r) => r.data.map((m) => m.id)).catch(() => []);
if (!state.models.length) state.models = [info.model];
state.prompting = await api.get("/api/strategies").catch(() => ({strategies: [], default: null, max_samples: 16}));

// --- conversations ------------------------------------------------------------------------

async function refreshList() {
  const {conversations} = await api.get("/api/conversations?limit=100");
  const current = state.conv && conversations.find((c) => c.id === state.conv.id);
  if (current && current.title !== state.conv.title) {  // the server titles a chat after its first message
    state.conv = {...state.conv, title: current.title};
    renderHead();
  }
  clear($("#conversations"), conversations.length ? conversations.map((c) =>
    h("a", {href: `#c=${c.id}`, class: `conv${state.conv && c.id === state.conv.id ? " active" : ""}`,
            dataset: {id: c.id}, onclick: (e) => { e.preventDefault(); open(c.id); }},
      h("span", {class: "conv-title"}, c.title || "Untitled"),
      h("span", {class: "conv-date"}, when(c.updated_at)))) : h("p", {class: "muted"}, "No conversations yet."));
}

async function open(id) {
  if (state.busy) return;
  clearToasts();  // a message about the last chat does not belong over the next one
  drawer(false);
  state.conv = null;
  state.tree = new Tree();
  if (id) {
    try {
      const {conversation} = await api.get(`/api/conversations/${encodeURIComponent(id)}`);
      state.conv = conversation;
      state.tree = new Tree(conversation.messages);
    } catch (e) {
      showError(e);
    }
  }
  history.replaceState(null, "", state.conv ? `#c=${state.conv.id}` : location.pathname);
  for (const a of document.querySelectorAll("#conversations .conv")) a.classList.toggle("active", a.dataset.id === id);
  renderHead();
  render();
  $("#input").focus();
}

async function reload() {
  const {conversation} = await api.get(`/api/conversations/${state.conv.id}`);
  const selected = state.tree.selected;
  state.conv = conversation;
  state.tree = new Tree(conversation.messages);
  state.tree.selected = selected;
}

function renderHead() {
  const c = state.conv;
  $("#title").textContent = c ? c.title || "Untitled" : "New chat";
  $("#export").hidden = $("#delete").hidden = !c;
  $("#system-prompt").value = c ? c.system_prompt : "";
  $("#save-system").hidden = !c;
  $("#system-box").open = !c;
  $("#system-summary").textContent = c && c.system_prompt ? "System prompt (set)" : "System prompt";
  if (c && c.model && state.models.includes(c.model)) $("#model-picker").value = c.model;
}

// --- models -------------------------------------------------------------------------------

// The model answers come from: the picker's choice when there are several, else the only one.
const currentModel = () => (state.models.length > 1 ? $("#model-picker").value : state.models[0]);

function setupModels() {
  const picker = $("#model-picker");
  clear(picker, state.models.map((id) => h("option", {value: id}, id)));
  const saved = localStorage.getItem(MODEL);
  if (saved && state.models.includes(saved)) picker.value = saved;
  $("#model-pick").hidden = state.models.length < 2;
  picker.addEventListener("change", () => {
    localStorage.setItem(MODEL, picker.value);
    if (!state.tree.path().length) render();
  });
}

// The conversation list is a drawer below 760 px (see kaizen.css); `open` false closes it.
function drawer(open) {
  document.body.classList.toggle("sidebar-open", open);
  $("#sidebar-toggle").setAttribute("aria-expanded", String(open));
  $("#backdrop").hidden = !open;
  if (open) $("#new-chat").focus();
}

// --- rendering ----------------------------------------------------------------------------

const handlers = {
  switchTo: (m) => { state.tree.select(m); render(); },
  edit: (m, content) => m.role === "user"
    ? generate(`/api/conversations/${state.conv.id}/messages`, {content, parent_id: m.parent_id})
    : writeAnswer(m, content),
  regenerate: (parentId) => generate(`/api/conversations/${state.conv.id}/regenerate`, {parent_id: parentId}),
  rate,
  reason: (m, reason) => rate(m, m.rating.value, reason),
  copy: async (m) => toast(await copyText(m.content) ? "Copied to the clipboard." : "Could not copy: select the text instead.",
                           "info", 1500),
  choose: async (m) => {
    try {
      await api.post(`/api/messages/${m.id}/choose`);
      await reload();
      render();
    } catch (e) { showError(e); }
  },
};

function render(untilId = null) {
  const list = $("#messages");
  const path = state.tree.path(untilId);
  clear(list, path.map((m) => renderMessage(state.tree, m, handlers, Boolean(state.busy))));
  if (!path.length && !state.busy) {
    list.append(h("div", {class: "empty"}, h("h2", {}, `Chat with ${currentModel()}`),
      h("p", {class: "muted"}, "Answers you rate, regenerate, edit or keep become training data for the next model.")));
  }
  list.scrollTop = list.scrollHeight;
}

// --- sending and streaming ----------------------------------------------------------------

function sampling() {
  const s = JSON.parse(localStorage.getItem(SETTINGS) || "{}");
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v !== "" && v !== null && !Number.isNaN(v)));
}

async function ensureConversation() {
  if (state.conv) return;
  const model = state.models.length > 1 ? {model: currentModel()} : {};  // reopening the chat picks it again
  const {conversation} = await api.post("/api/conversations", {system_prompt: $("#system-prompt").value, ...model});
  state.conv = {...conversation, messages: []};
  history.replaceState(null, "", `#c=${conversation.id}`);
}

async function send(content) {
  await ensureConversation();
  const last = state.tree.path().at(-1);
  // After an unanswered user turn (e.g. too long for the model) a new message is asked again beside it.
  const parent = !last ? null : last.role === "user" ? last.parent_id : last.id;
  await generate(`/api/conversations/${state.conv.id}/messages`, {content, parent_id: parent});
}

async function generate(path, body) {
  if (state.busy) return;
  const controller = new AbortController();
  state.busy = controller;
  setBusy(true);
  let live = null;
  let finished = false;
  try {
    const model = state.models.length > 1 ? {model: currentModel()} : {};
    const request = {...body, ...sampling(), ...strategyField(), ...model, stream: true};
    for await (const ev of api.stream(path, request, controller.signal)) {
      if (ev.type === "user_message") {
        state.tree.add(ev.message);
      } else if (ev.type === "start") {
        render(ev.parent_id);
        live = streamingMessage(currentModel());
        $("#messages").append(live.el);
      } else if (ev.type === "thinking") {
        live.thinking(ev.strategy);
      } else if (ev.type === "delta") {
        live.append(ev.content);
        const list = $("#messages");
        if (list.scrollHeight - list.scrollTop - list.clientHeight < 120) list.scrollTop = list.scrollHeight;
      } else if (ev.type === "done") {
        state.tree.add(ev.message);
        finished = true;
      } else if (ev.type === "error") {
        throw new api.ApiError(500, ev.error);
      } else if (ev.type === "json") {
        for (const m of [ev.body.user_message, ev.body.message]) if (m) state.tree.add(m);
        finished = true;
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") showError(e);
  } finally {
    if (!finished) {  // stopped or failed: the server kept the user turn and any partial answer
      if (controller.signal.aborted) await new Promise((r) => setTimeout(r, 300));
      await reload().catch(showError);
    }
    state.busy = null;
    setBusy(false);
    render();
    renderHead();
    refreshList().catch(showError);
  }
}

async function writeAnswer(m, content) {
  try {
    const {message} = await api.post(`/api/conversations/${state.conv.id}/messages`,
                                     {content, parent_id: m.parent_id, role: "assistant"});
    state.tree.add(message);
    render();
  } catch (e) { showError(e); }
}

async function rate(m, value, reason = null) {
  try {
    const url = `/api/messages/${m.id}/rating`;
    const {message} = value ? await api.put(url, reason ? {value, reason} : {value}) : await api.del(url);
    state.tree.add(message, false);
    render();
    if (value && !reason) $(`.msg[data-id="${CSS.escape(m.id)}"] .reason-input`)?.focus();
    if (reason) toast("Thanks, your feedback was saved.");
  } catch (e) { showError(e); }
}

// `body[data-busy]` is set synchronously on Send, so a page (or a test) can wait for the answer to be stored.
function setBusy(busy) {
  document.body.dataset.busy = String(busy);
  $("#send").hidden = busy;
  $("#stop").hidden = !busy;
  $("#new-chat").disabled = busy;
}

// --- page controls ------------------------------------------------------------------------

$("#composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("#input");
  const content = input.value;
  if (!content.trim() || state.busy) return;
  input.value = "";
  setBusy(true);
  try {
    await send(content);
  } catch (err) {
    input.value = content;
    setBusy(false);
    showError(err);
  }
});
$("#input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("#composer").requestSubmit();
  }
});
$("#stop").addEventListener("click", () => state.busy && state.busy.abort());
$("#new-chat").addEventListener("click", () => open(null));
$("#sidebar-toggle").addEventListener("click", () => drawer(!document.body.classList.contains("sidebar-open")));
$("#backdrop").addEventListener("click", () => drawer(false));
document.addEventListener("keydown", (e) => { if (e.key === "Escape") drawer(false); });
$("#save-system").addEventListener("click", async () => {
  try {
    const {conversation} = await api.patch(`/api/conversations/${state.conv.id}`, {system_prompt: $("#system-prompt").value});
    state.conv = {...state.conv, ...conversation};
    renderHead();
    toast("System prompt saved; it applies to the next answers.");
  } catch (e) { showError(e); }
});
$("#export").addEventListener("click", () =>
  api.download(`/api/conversations/${state.conv.id}/export`, `conversation-${state.conv.id}.json`).catch(showError));
$("#export-all").addEventListener("click", () => api.download("/api/me/export", "my-conversations.json").catch(showError));
$("#delete").addEventListener("click", async () => {
  if (!confirm("Delete this conversation?")) return;
  try {
    await api.del(`/api/conversations/${state.conv.id}`);
    await open(null);
    await refreshList();
  } catch (e) { showError(e); }
});

function setupSettings() {
  const saved = JSON.parse(localStorage.getItem(SETTINGS) || "{}");
  $("#max_tokens").placeholder = String(info.max_new_tokens);
  for (const name of ["temperature", "top_p", "max_tokens", "seed"]) {
    const input = $(`#${name}`);
    input.value = saved[name] ?? "";
    input.addEventListener("input", () => {
      const s = JSON.parse(localStorage.getItem(SETTINGS) || "{}");
      s[name] = input.value === "" ? "" : Number(input.value);
      localStorage.setItem(SETTINGS, JSON.stringify(s));
    });
  }
}

// --- prompting strategy ---------------------------------------------------------------

const STRATEGY_NAMES = {
  zero_shot: "Zero-shot (greedy)", few_shot: "Few-shot examples", cot: "Chain of thought",
  zero_shot_cot: "Zero-shot chain of thought", self_consistency: "Self-consistency (vote of N)",
  generated_knowledge: "Generated knowledge", react: "ReAct (search, calculate)", best_of_n: "Best of N (reward model)",
};
const SAMPLED = ["self_consistency", "best_of_n"];  // the strategies whose N the picker sets
const PLAIN = "plain";  // token-by-token sampling, no strategy

// The picker: "Server default (X)" (sends nothing) when the server has one, plain sampling, then
// each strategy the server can run. The choice is kept in localStorage, apart from the sampling
// fields (which are sent as they are).
function setupStrategy() {
  const {strategies, default: fallback, max_samples: most} = state.prompting;
  const picker = $("#strategy");
  const choices = [...(fallback ? [["", `Server default (${fallback})`]] : []), [fallback ? PLAIN : "", "Plain sampling"],
                   ...strategies.map((name) => [name, STRATEGY_NAMES[name] || name])];
  clear(picker, choices.map(([value, label]) => h("option", {value}, label)));
  const n = $("#strategy_n");
  n.max = String(most);
  n.placeholder = String(Math.min(8, most));  // StrategySpec's default N, where the server allows it
  const saved = JSON.parse(localStorage.getItem(STRATEGY) || "{}");
  if (choices.some(([value]) => value === saved.name)) picker.value = saved.name;
  n.value = saved.n ?? "";
  const sync = () => {
    $("#strategy-n-row").hidden = !SAMPLED.includes(picker.value);
    localStorage.setItem(STRATEGY, JSON.stringify({name: picker.value, n: n.value === "" ? "" : Number(n.value)}));
  };
  picker.addEventListener("change", sync);
  n.addEventListener("input", sync);
  $("#strategy-n-row").hidden = !SAMPLED.includes(picker.value);
}

// The request's `kaizen` field: absent for the server's default, null for plain sampling.
function strategyField() {
  const name = $("#strategy").value;
  if (!name) return {};
  if (name === PLAIN) return {kaizen: null};
  const n = Number($("#strategy_n").value);
  const given = $("#strategy_n").value !== "" && n >= 1;
  const samples = given ? n : Math.min(8, state.prompting.max_samples);
  return {kaizen: SAMPLED.includes(name) ? {strategy: name, n: samples} : {strategy: name}};
}

setupSettings();
setupStrategy();
setupModels();
await refreshList();
await open(new URLSearchParams(location.hash.slice(1)).get("c"));
