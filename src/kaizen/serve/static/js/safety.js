// The admin page's safety section: which defences are on, counts by stage/rule/category, and the
// latest refused requests and withheld answers (GET /api/admin/safety; kaizen/serve/safety.py).

import * as api from "./api.js";
import {$, clear, h} from "./ui.js";
import {table} from "./admin.js";

async function loadSafety() {
  const box = $("#safety");
  try {
    const s = await api.get("/api/admin/safety?limit=50");
    const on = Object.entries(s.enabled).filter(([, v]) => v).map(([k, v]) => (v === true ? k : `${k} (${v})`));
    const counts = Object.entries(s.counts);
    clear(box,
      h("p", {id: "safety-enabled"}, on.length ? `On: ${on.join(", ")}` : "No defence is switched on (kaizen serve --safety.*)."),
      counts.length ? table(["Stage:rule:category", "Events"], counts, "safety-counts") : null,
      s.events.length
        ? table(["Time", "User", "Stage", "Rule", "Category", "Score", "Text"],
                s.events.map((e) => [e.time, e.user, e.stage, e.rule, e.category, e.score ?? "–", e.excerpt]), "safety-events")
        : h("p", {class: "muted"}, "Nothing refused or withheld yet."));
  } catch (e) {
    clear(box, h("p", {class: "muted"}, `Safety log unavailable: ${e.message || e}`));
  }
}

$("#safety-refresh").addEventListener("click", loadSafety);
$("#refresh").addEventListener("click", loadSafety);
loadSafety();
