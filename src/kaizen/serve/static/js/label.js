// The labeling page: claim the next task, show its prompt beside the guidelines, collect a
// ranking (rank.js) or a demonstration, submit, and move on to the next task.

import * as api from "./api.js";
import {compareBoard} from "./compare.js";
import {rankingBoard} from "./rank.js";
import {renderMarkdown} from "./markdown.js";
import {$, clear, h, page, showError, toast, turn, when} from "./ui.js";

await page("labeler", "label.html");
let submitted = 0;
let guidelinesShown = null;

$("#kind-filter").addEventListener("change", () => next());
await next();

async function next() {
  const body = $("#task-body");
  clear(body, h("p", {class: "muted"}, "Loading the next task…"));
  const kind = $("#kind-filter").value;
  let task;
  try {
    ({task} = await api.get(`/api/labeling/next${kind ? `?kind=${kind}` : ""}`));
  } catch (e) {
    showError(e);
    return;
  }
  if (!task) {
    $("#task-title").textContent = "All done";
    clear(body, h("div", {class: "empty"}, h("h2", {}, "No tasks left"),
      h("p", {class: "muted"}, "Every task is labeled or claimed by someone else. Check back later."),
      h("button", {onclick: () => next()}, "Check again")));
    if (guidelinesShown === null) showGuidelines((await api.get("/api/labeling/guidelines")).markdown);
    return;
  }
  showGuidelines(task.guidelines);
  $("#task-title").textContent = task.kind === "rank" ? `Rank ${task.k} answers`
    : task.kind === "compare" ? "Compare 2 answers" : "Write the ideal answer";
  const work = task.kind === "rank" ? rankingBoard(task) : task.kind === "compare" ? compareBoard(task) : demonstration();
  const submit = h("button", {class: "primary", id: "submit-task"}, "Submit and next");
  const skip = h("button", {id: "skip-task"}, "Skip");
  submit.addEventListener("click", async () => {
    let payload;
    try {
      payload = work.submission();
    } catch (e) {
      toast(e.message, "error");
      return;
    }
    submit.disabled = skip.disabled = true;
    try {
      await api.post(`/api/labeling/tasks/${task.id}/submit`, payload);
      submitted += 1;
      $("#done-count").textContent = `${submitted} submitted this session`;
      toast(`Task ${task.id} submitted.`);
      await next();
    } catch (e) {
      showError(e);
      submit.disabled = skip.disabled = false;
    }
  });
  skip.addEventListener("click", async () => {
    try {
      await api.post(`/api/labeling/tasks/${task.id}/skip`);
      await next();
    } catch (e) { showError(e); }
  });
  clear(body,
    h("section", {class: "prompt", "aria-label": "Prompt"}, h("h2", {}, "Prompt"), task.prompt.map(turn)),
    work.el,
    h("div", {class: "task-actions"}, submit, skip,
      h("span", {class: "muted"}, `Task ${task.id} · your claim lasts until ${when(task.expires_at)}`)));
  body.dataset.taskId = String(task.id);
  body.dataset.kind = task.kind;
}

function demonstration() {
  const area = h("textarea", {id: "demo-answer", rows: 10, placeholder: "Write the answer the assistant should give."});
  const el = h("section", {class: "demonstration"}, h("h2", {}, "Your answer"), area);
  return {
    el,
    submission() {
      if (!area.value.trim()) throw new Error("Write an answer first.");
      return {answer: area.value};
    },
  };
}

function showGuidelines(text) {
  if (text === guidelinesShown) return;
  guidelinesShown = text;
  clear($("#guidelines"), renderMarkdown(text, {breaks: false}));  // the guidelines are wrapped by hand
}
