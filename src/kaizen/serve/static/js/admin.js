// The admin page: statistics, labeling tasks from a JSONL file, agreement between labelers,
// the guidelines, exports of training files; users and keys are in users.js.

import * as api from "./api.js";
import {$, clear, h, page, showError, toast, turn, when} from "./ui.js";
import {setupUsers} from "./users.js";

await page("admin", "admin.html");
const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);

$("#refresh").addEventListener("click", () => refresh());
$("#task-status").addEventListener("change", () => loadTasks().catch(showError));
$("#export-refresh").addEventListener("click", () => loadExport().catch(showError));
$("#task-form").addEventListener("submit", createTasks);
$("#guidelines-save").addEventListener("click", async () => {
  try {
    await api.put("/api/admin/guidelines", {markdown: $("#guidelines-text").value});
    toast("Guidelines saved; labelers see them with their next task.");
  } catch (e) { showError(e); }
});
setupUsers();
await refresh();
$("#guidelines-text").value = (await api.get("/api/admin/guidelines")).markdown;

async function refresh() {
  await Promise.all([loadStats(), loadAgreement(), loadTasks(), loadExport()]).catch(showError);
}

async function loadStats() {
  const s = await api.get("/api/admin/stats");
  const tasks = Object.entries(s.tasks).map(([k, v]) => `${v} ${k}`).join(", ") || "none";
  const tiles = [["Users", s.users], ["Conversations", s.conversations], ["Messages", s.messages],
                 ["Thumbs up / down", `${s.ratings_up} / ${s.ratings_down}`], ["Tasks", tasks],
                 ["Submissions", s.submissions], ["Engine", `${s.engine.running ?? 0} running, ${s.engine.steps ?? 0} steps`]];
  clear($("#stats"), tiles.map(([label, value]) => h("div", {class: "tile"}, h("span", {class: "tile-label"}, label),
                                                     h("span", {class: "tile-value"}, String(value)))));
}

async function loadAgreement() {
  const a = await api.get("/api/admin/agreement");
  const box = $("#agreement");
  if (a.overall === null) {
    clear(box, h("p", {id: "agreement-overall"}, "No item has two rankings yet."));
    return;
  }
  clear(box,
    h("p", {id: "agreement-overall", class: "big"}, pct(a.overall),
      h("span", {class: "muted"}, ` over ${a.items} item${a.items === 1 ? "" : "s"}, ${a.comparisons} answer pairs`)),
    table(["Labeler", "Agreement", "Pairs"], a.labelers.map((l) => [l.name, pct(l.agreement), l.comparisons]),
          "agreement-labelers"),
    h("details", {}, h("summary", {}, "Per task"),
      table(["Task", "Agreement", "Labelers"], a.tasks.map((t) => [t.task_id, pct(t.agreement), t.labelers.join(", ")]))));
}

async function loadTasks() {
  const status = $("#task-status").value;
  const {tasks} = await api.get(`/api/admin/tasks?limit=200${status ? `&status=${status}` : ""}`);
  if (!tasks.length) {
    clear($("#tasks"), h("p", {class: "muted"}, "No tasks. Create some from a JSONL file."));
    return;
  }
  const rows = tasks.map((t) => [
    h("button", {class: "link", onclick: () => showTask(t.id)}, `#${t.id}`), t.kind,
    h("span", {class: `status ${t.status}`}, t.status),
    t.kind === "rank" ? t.k : "–", `${t.submitted} / ${t.replication}`, t.claimed,
    h("span", {class: "preview"}, t.error ? `error: ${t.error}` : t.prompt_preview), when(t.created_at)]);
  clear($("#tasks"), table(["Task", "Kind", "Status", "K", "Submitted", "Claimed", "Prompt", "Created"], rows, "task-table"));
}

async function showTask(id) {
  let task;
  try {
    ({task} = await api.get(`/api/admin/tasks/${id}`));
  } catch (e) {
    showError(e);
    return;
  }
  const hide = () => clear($("#task-detail"));
  const close = h("button", {class: "small danger", onclick: async () => {
    await api.del(`/api/admin/tasks/${id}`).catch(showError);
    hide();
    await refresh();
  }}, "Close task");
  const submissions = task.submissions.map((s) =>
    [s.labeler, when(s.submitted_at), h("code", {class: "result"}, summarize(s.result))]);
  clear($("#task-detail"), h("div", {class: "detail"},
    h("div", {class: "panel-head"}, h("h3", {}, `Task ${task.id} · ${task.kind} · ${task.status}`),
      h("span", {class: "spacer"}), task.status === "closed" ? null : close,
      h("button", {class: "small", onclick: hide}, "Hide")),
    task.prompt.map(turn),
    task.answers ? h("ol", {class: "answers", type: "A"}, task.answers.map((a) => h("li", {class: "turn-text"}, a))) : null,
    h("h4", {}, `Submissions (${task.submissions.length})`),
    submissions.length ? table(["Labeler", "When", "Result"], submissions) : h("p", {class: "muted"}, "None yet.")));
}

function summarize(result) {
  if (!result) return "";
  if (result.answer !== undefined) return result.answer;
  const ranks = result.ranks ? `ranks ${result.ranks.join(", ")}` : "no ranking";
  return `${ranks}${result.all_bad ? " · all bad" : ""}${result.comment ? ` · “${result.comment}”` : ""}`;
}

async function createTasks(e) {
  e.preventDefault();
  const file = $("#task-file").files[0];
  const jsonl = file ? await file.text() : $("#task-jsonl").value;
  if (!jsonl.trim()) {
    toast("Choose a JSONL file or paste some lines.", "error");
    return;
  }
  const body = {kind: $("#task-kind").value, k: Number($("#task-k").value), replication: Number($("#task-replication").value),
                generate: $("#task-generate").checked, temperature: Number($("#task-temperature").value), jsonl};
  if ($("#task-max-tokens").value) body.max_tokens = Number($("#task-max-tokens").value);
  try {
    const r = await api.post("/api/admin/tasks", body);
    $("#task-result").textContent = `Created ${r.task_ids.length} task(s)` +
      (r.generating ? `; ${r.generating} waiting for the model's answers.` : ".");
    $("#task-form").reset();
    await refresh();
    if (r.generating) setTimeout(() => loadTasks().catch(showError), 3000);
  } catch (err) {
    $("#task-result").textContent = "";
    showError(err);
  }
}

async function loadExport() {
  const {counts, skipped = {}, not_targets: notTargets = {}} = await api.get("/api/admin/export");
  const save = (name) => api.download(`/api/admin/export/${name}.jsonl`, `${name}.jsonl`).catch(showError);
  // Feedback that became no training row (or no SFT target), and why: nothing is dropped silently.
  const reasons = [...Object.entries(skipped).map(([why, n]) => `${n} × ${why} (in no file)`),
                   ...Object.entries(notTargets).map(([why, n]) => `${n} × ${why} (not a demonstration)`)];
  clear($("#export"), h("ul", {class: "exports"}, Object.entries(counts).map(([name, n]) => h("li", {},
    h("button", {class: "small", onclick: () => save(name)}, `Download ${name}.jsonl`),
    h("span", {class: "muted", dataset: {count: name}}, ` ${n} record${n === 1 ? "" : "s"}`)))),
  reasons.length ? h("details", {id: "export-unused"}, h("summary", {}, `Feedback not used (${reasons.length})`),
    h("ul", {}, reasons.map((r) => h("li", {class: "muted"}, r)))) : null);
}

// A table in a box that scrolls sideways on a narrow screen (the page itself never does).
export function table(head, rows, id = null) {
  return h("div", {class: "table-wrap"}, h("table", {id},
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((x) => h("td", {}, x instanceof Node ? x : String(x))))))));
}
