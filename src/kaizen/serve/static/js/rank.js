// The ranking board of a rank task: K answer cards moved into rank buckets (1 = best; several
// cards in one bucket are a tie) by drag and drop, by the ▲/▼ buttons, the rank menu, or keys
// (ArrowUp/ArrowDown, 1-9, 0 on a focused card), with each answer's judgements on its card.
//
//   const board = rankingBoard(task);  page.append(board.el);  const body = board.submission();

import {h} from "./ui.js";

const LETTERS = "ABCDEFGHI";
const HELPFUL = ["", "1 · useless", "2", "3", "4 · okay", "5", "6", "7 · excellent"];

export function rankingBoard(task) {
  const k = task.answers.length;
  const buckets = [];  // index 0: not ranked yet; r: rank r
  const cards = task.answers.map((text, i) => card(task, i, text, (to) => move(i, to)));
  const allBad = h("input", {type: "checkbox", id: "all-bad"});
  const comment = h("textarea", {id: "rank-comment", rows: 2, placeholder: "Anything the admins should know (optional)"});

  for (let r = 0; r <= k; r++) {
    const label = r === 0 ? "Not ranked yet" : r === 1 ? "Rank 1 · best" : r === k ? `Rank ${r} · worst` : `Rank ${r}`;
    const zone = h("div", {class: "cards"});
    const bucket = h("section", {class: `bucket${r === 0 ? " pool" : ""}`, dataset: {rank: r}, "aria-label": label},
      h("h3", {class: "bucket-label"}, label), zone);
    bucket.addEventListener("dragover", (e) => { e.preventDefault(); bucket.classList.add("over"); });
    bucket.addEventListener("dragleave", () => bucket.classList.remove("over"));
    bucket.addEventListener("drop", (e) => {
      e.preventDefault();
      bucket.classList.remove("over");
      const i = Number(e.dataTransfer.getData("text/plain"));
      if (Number.isInteger(i) && cards[i]) move(i, r);
    });
    buckets.push({el: bucket, zone});
  }
  cards.forEach((c) => buckets[0].zone.append(c.el));

  function move(i, to) {
    to = Math.max(0, Math.min(k, to));
    const c = cards[i];
    c.rank = to;
    const zone = buckets[to].zone;
    const after = [...zone.children].find((el) => Number(el.dataset.answer) > i);
    zone.insertBefore(c.el, after || null);  // cards keep answer order inside a bucket
    c.sync();
    for (const b of buckets) b.el.classList.toggle("vacant", !b.zone.children.length);
    c.focus();
  }
  for (const b of buckets) b.el.classList.toggle("vacant", !b.zone.children.length);

  const el = h("div", {class: "ranking"},
    h("p", {class: "hint"}, "Judge each answer, then put it in a rank: drag the card, use ▲ ▼, the rank menu, ",
      "or focus a card and press ↑ ↓ or a number. Cards in the same rank are a tie."),
    h("div", {class: "board"}, buckets.map((b) => b.el)),
    h("label", {class: "check all-bad"}, allBad, " All answers are bad (harmful, false or useless)"),
    comment);

  // The submission body, or throws an Error that says what is missing.
  function submission() {
    const placed = cards.map((c) => c.rank);
    const unranked = placed.filter((r) => r === 0).length;
    const body = {all_bad: allBad.checked, comment: comment.value.trim()};
    if (unranked && !(allBad.checked && unranked === k)) {
      throw new Error(`Rank every answer (${unranked} not ranked yet)` + (allBad.checked ? " or none of them." : "."));
    }
    if (unranked === 0) {
      const levels = [...new Set(placed)].sort((a, b) => a - b);
      body.ranks = placed.map((r) => levels.indexOf(r) + 1);  // dense: empty buckets leave no gap
    }
    const judgements = cards.map((c) => c.judgement());
    if (judgements.some((j) => Object.keys(j).length > 1 || j.flags.length)) body.judgements = judgements;
    return body;
  }

  return {el, submission, move};
}

function card(task, i, text, moveTo) {
  const k = task.answers.length;
  const name = `Answer ${LETTERS[i]}`;
  const rankSelect = h("select", {class: "rank-select", "aria-label": `Rank of ${name}`},
    h("option", {value: "0"}, "not ranked"),
    Array.from({length: k}, (_, r) => h("option", {value: String(r + 1)}, `rank ${r + 1}`)));
  const up = h("button", {type: "button", class: "small move-up", title: "Better",
                           "aria-label": `Move ${name} up (better)`}, "▲");
  const down = h("button", {type: "button", class: "small move-down", title: "Worse",
                             "aria-label": `Move ${name} down (worse)`}, "▼");
  const helpful = h("select", {class: "helpful", "aria-label": `Helpful (1-7) for ${name}`},
    HELPFUL.map((label, v) => h("option", {value: v ? String(v) : ""}, v ? label : "–")));
  const truthful = yesNo(`Truthful: ${name}`, "truthful");
  const harmless = yesNo(`Harmless: ${name}`, "harmless");
  const flagBoxes = task.flags.map((flag) => h("input", {type: "checkbox", value: flag, "aria-label": `${flag} (${name})`}));
  const flagCount = h("span", {class: "flag-count"});
  const flags = h("details", {class: "flags"}, h("summary", {}, "Flags ", flagCount),
    flagBoxes.map((box) => h("label", {class: "check"}, box, " ", box.value.replaceAll("_", " "))));
  flags.addEventListener("change", () => {
    const n = flagBoxes.filter((b) => b.checked).length;
    flagCount.textContent = n ? `(${n})` : "";
  });

  // Dragged by its head, so the answer's text stays selectable.
  const head = h("div", {class: "card-head", draggable: "true", title: "Drag into a rank"},
    h("span", {class: "grip", "aria-hidden": "true"}, "⠿"), h("strong", {}, name), h("span", {class: "spacer"}),
    rankSelect, up, down);
  const el = h("article", {class: "card", tabindex: 0, dataset: {answer: i}, "aria-label": name},
    head,
    h("div", {class: "answer-text"}, text),
    h("div", {class: "judgements"},
      h("label", {}, "Helpful ", helpful), h("label", {}, "Truthful ", truthful), h("label", {}, "Harmless ", harmless),
      flags));

  const c = {
    el, rank: 0,
    focus: () => el.focus({preventScroll: false}),
    sync() {
      rankSelect.value = String(c.rank);
      up.disabled = c.rank === 0;
      down.disabled = c.rank === k;
      el.classList.toggle("ranked", c.rank > 0);
    },
    judgement() {
      const j = {flags: flagBoxes.filter((b) => b.checked).map((b) => b.value)};
      if (helpful.value) j.helpful = Number(helpful.value);
      if (truthful.value) j.truthful = truthful.value === "yes";
      if (harmless.value) j.harmless = harmless.value === "yes";
      return j;
    },
  };
  rankSelect.addEventListener("change", () => moveTo(Number(rankSelect.value)));
  up.addEventListener("click", () => moveTo(c.rank - 1));
  down.addEventListener("click", () => moveTo(c.rank + 1));
  head.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData("text/plain", String(i));
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setDragImage(el, 16, 16);
  });
  el.addEventListener("keydown", (e) => {
    if (e.target !== el) return;  // keys typed into the card's own controls are theirs
    if (e.key === "ArrowUp") moveTo(c.rank - 1);
    else if (e.key === "ArrowDown") moveTo(c.rank + 1);
    else if (/^[0-9]$/.test(e.key) && Number(e.key) <= k) moveTo(Number(e.key));
    else return;
    e.preventDefault();
  });
  c.sync();
  return c;
}

function yesNo(label, cls) {
  return h("select", {class: cls, "aria-label": label},
    h("option", {value: ""}, "–"), h("option", {value: "yes"}, "yes"), h("option", {value: "no"}, "no"));
}
