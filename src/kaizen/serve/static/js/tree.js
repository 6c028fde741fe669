// A conversation's messages as a tree (each message has a parent_id; siblings are alternatives:
// regenerated answers, or edited user turns) and the one branch the chat shows.

const ROOT = "root";
export const keyOf = (message) => message.parent_id ?? ROOT;

export class Tree {
  constructor(messages = []) {
    this.byId = new Map();
    this.children = new Map();  // parent key -> messages in creation order
    this.selected = new Map();  // parent key -> the child id shown
    for (const m of messages) this.add(m, false);
  }

  // Add or replace a message; `select` makes it the alternative shown under its parent.
  add(message, select = true) {
    const key = keyOf(message);
    const old = this.byId.get(message.id);
    this.byId.set(message.id, message);
    const kids = this.children.get(key) || [];
    if (old) kids[kids.findIndex((m) => m.id === message.id)] = message;
    else kids.push(message);
    this.children.set(key, kids);
    if (select) this.selected.set(key, message.id);
  }

  siblings(message) {
    return this.children.get(keyOf(message)) || [message];
  }

  select(message) {
    this.selected.set(keyOf(message), message.id);
  }

  // The alternative shown under `key`: the one picked here, else the one the user kept, else the newest.
  shown(key) {
    const kids = this.children.get(key);
    if (!kids || !kids.length) return null;
    return kids.find((m) => m.id === this.selected.get(key)) || kids.find((m) => m.chosen) || kids[kids.length - 1];
  }

  // The branch from the first turn down to a leaf, following the shown alternatives.
  path(untilId = null) {
    const out = [];
    let key = ROOT;
    for (let m = this.shown(key); m; m = this.shown(m.id)) {
      out.push(m);
      if (m.id === untilId) break;
    }
    return out;
  }

  hasAnswer(userMessage) {
    return (this.children.get(userMessage.id) || []).length > 0;
  }
}
