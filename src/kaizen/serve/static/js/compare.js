// The comparison board of a compare task: two answers side by side and one choice,
// "A is better", "equally good" or "B is better" (radio buttons: mouse, Tab and arrow keys).
//
//   const board = compareBoard(task);  page.append(board.el);  const body = board.submission();

import {h} from "./ui.js";

const OPTIONS = [["A", "A is better"], ["tie", "Equally good"], ["B", "B is better"]];

export function compareBoard(task) {
  const answers = task.answers.map((text, i) => {
    const letter = "AB"[i];
    return h("article", {class: "card", "aria-label": `Answer ${letter}`},
      h("div", {class: "card-head"}, h("strong", {}, `Answer ${letter}`)),
      h("div", {class: "answer-text"}, text));
  });
  const radios = OPTIONS.map(([value, label]) => {
    const input = h("input", {type: "radio", name: "compare-choice", value, id: `choice-${value}`});
    return {input, el: h("label", {class: "inline compare-option", for: `choice-${value}`}, input, label)};
  });
  const comment = h("textarea", {id: "compare-comment", rows: 2, placeholder: "Why (optional)"});
  const el = h("section", {class: "compare", "aria-label": "Comparison"},
    h("h2", {}, "Which answer is better?"),
    h("div", {class: "compare-pair"}, ...answers),
    h("fieldset", {class: "compare-choice"}, h("legend", {}, "Your choice"), ...radios.map((r) => r.el)),
    comment);
  return {
    el,
    submission() {
      const picked = radios.find((r) => r.input.checked);
      if (!picked) throw new Error("Choose A, B or equally good first.");
      return {choice: picked.input.value, comment: comment.value};
    },
  };
}
