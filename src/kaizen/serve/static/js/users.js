// The admin page's users panel: add users (their first API key is shown once), change roles,
// disable accounts, issue and revoke keys.

import * as api from "./api.js";
import {$, clear, h, showError, when} from "./ui.js";

export function setupUsers() {
  $("#user-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {name: $("#new-user-name").value.trim(), role: $("#new-user-role").value};
    if ($("#new-user-password").value) body.password = $("#new-user-password").value;
    try {
      const r = await api.post("/api/admin/users", body);
      showSecret(`${r.user.name}'s API key (shown once): `, r.api_key);
      $("#user-form").reset();
      await loadUsers();
    } catch (err) { showError(err); }
  });
  loadUsers().catch(showError);
}

function showSecret(label, secret) {
  const box = $("#new-key");
  clear(box, label, h("code", {}, secret));
  box.hidden = false;
}

async function loadUsers() {
  const {users} = await api.get("/api/admin/users");
  const rows = users.map((u) => {
    const role = h("select", {"aria-label": `Role of ${u.name}`},
      ["user", "labeler", "admin"].map((r) => h("option", {value: r, selected: r === u.role}, r)));
    role.addEventListener("change", () => update(u, {role: role.value}));
    const keys = u.keys.filter((k) => !k.revoked).map((k) => h("span", {class: "key"}, `${k.prefix}… ${k.name}`,
      h("button", {class: "link", title: "Revoke", onclick: () => revoke(k)}, "×")));
    return h("tr", {class: u.disabled ? "disabled" : null},
      h("td", {}, u.name), h("td", {}, role), h("td", {}, when(u.created_at)), h("td", {}, keys),
      h("td", {},
        h("button", {class: "small", onclick: () => newKey(u)}, "New key"), " ",
        h("button", {class: "small", onclick: () => update(u, {disabled: !u.disabled})}, u.disabled ? "Enable" : "Disable")));
  });
  clear($("#users"), h("div", {class: "table-wrap"}, h("table", {},
    h("thead", {}, h("tr", {}, ["Name", "Role", "Created", "API keys", ""].map((x) => h("th", {}, x)))),
    h("tbody", {}, rows))));
}

async function update(u, body) {
  try {
    await api.patch(`/api/admin/users/${u.id}`, body);
  } catch (e) { showError(e); }
  await loadUsers().catch(showError);
}

async function newKey(u) {
  try {
    const r = await api.post(`/api/admin/users/${u.id}/keys`, {name: "from admin page"});
    showSecret(`New API key for ${u.name} (shown once): `, r.api_key);
    await loadUsers();
  } catch (e) { showError(e); }
}

async function revoke(k) {
  if (!confirm(`Revoke key ${k.prefix}…?`)) return;
  try {
    await api.del(`/api/admin/keys/${k.id}`);
    await loadUsers();
  } catch (e) { showError(e); }
}
