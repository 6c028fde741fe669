// Sign in with a password (POST /api/login -> token), a pasted API key (checked with GET /api/me),
// or the one-time link `kaizen serve` prints on first start (login.html#link=TOKEN, POST
// /api/login/link); after a link, a user without a password is asked to choose one.

import * as api from "./api.js";
import {$} from "./ui.js";

const next = new URLSearchParams(location.search).get("next");

function fail(message, box = "#login-error") {
  $(box).textContent = message;
  $(box).hidden = false;
}

// After a first-start link an admin lands on the admin page (users, tasks); otherwise chat, or labeling for labelers.
function go(user, firstStart = false) {
  const home = user.role === "labeler" ? "label.html" : firstStart && user.role === "admin" ? "admin.html" : "index.html";
  location.replace(sameSite(next) || home);
}

// `next` comes from the address bar: follow it only within this site ("/" means "my start page").
function sameSite(path) {
  if (!path) return null;
  const url = new URL(path, location.origin);
  if (url.origin !== location.origin || url.pathname === "/" || url.pathname.endsWith("/login.html")) return null;
  return url.pathname + url.search + url.hash;
}

$("#password-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const {token, user} = await api.post("/api/login", {username: $("#username").value.trim(), password: $("#password").value},
                                         {quiet401: true});
    api.setToken(token, $("#remember").checked);
    go(user);
  } catch (err) {
    fail(err.message);
  }
});

$("#key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  api.setToken($("#api-key").value.trim(), $("#remember").checked);
  try {
    go((await api.get("/api/me", {quiet401: true})).user);
  } catch (err) {
    api.clearToken();
    fail(err.message);
  }
});

// The link's token is in the fragment, which browsers never send to a server or a Referer.
async function linkLogin(secret) {
  history.replaceState(null, "", location.pathname + location.search);
  let reply;
  try {
    reply = await api.post("/api/login/link", {token: secret}, {quiet401: true});
  } catch (err) {
    fail(err.message);
    return;
  }
  api.setToken(reply.token, true);
  if (reply.has_password) {
    go(reply.user, true);
    return;
  }
  $("main.login-card").hidden = true;
  $("#welcome").hidden = false;
  $("#welcome-name").textContent = reply.user.name;
  $("#set-password").focus();
  $("#skip-password").addEventListener("click", () => go(reply.user, true));
  $("#set-password-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if ($("#set-password").value !== $("#set-password-again").value) {
      fail("The two passwords differ.", "#welcome-error");
      return;
    }
    try {
      const changed = await api.post("/api/me/password", {old_password: "", new_password: $("#set-password").value},
                                     {quiet401: true});
      api.renewToken(changed.token);
      go(reply.user, true);
    } catch (err) {
      fail(err.message, "#welcome-error");
    }
  });
}

// Pasting the link into a tab already on this page changes only the fragment: listen for that too.
const fromHash = () => {
  const link = new URLSearchParams(location.hash.slice(1)).get("link");
  if (link) linkLogin(link);
};
window.addEventListener("hashchange", fromHash);
fromHash();

api.get("/api/info", {quiet401: true}).then((info) => {
  const names = info.models || [info.model];
  $("#model-line").textContent = `${names.length > 1 ? "Models" : "Model"}: ${names.join(", ")} · Kaizen ${info.version}`;
}).catch(() => {});
