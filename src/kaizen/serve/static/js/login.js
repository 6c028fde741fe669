// Sign in with a password (POST /api/login -> token) or a pasted API key (checked with GET /api/me).

import * as api from "./api.js";
import {$} from "./ui.js";

const next = new URLSearchParams(location.search).get("next");

function fail(message) {
  const box = $("#login-error");
  box.textContent = message;
  box.hidden = false;
}

function go(user) {
  location.replace(sameSite(next) || (user.role === "labeler" ? "label.html" : "index.html"));
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

api.get("/api/info", {quiet401: true}).then((info) => {
  $("#model-line").textContent = `Model: ${info.model} · Kaizen ${info.version}`;
}).catch(() => {});
