"""Two named models behind one ``kaizen serve`` in a real browser: the login page and the chat name
them, the picker switches between them, and each answer is stored with the model that wrote it.

    apt-get install -y chromium && pytest -m browser tests/serve/test_browser_models.py
"""

from __future__ import annotations

import json
import re
import shutil

import httpx
import pytest

from kaizen.models.identity import write_model_card
from tests.serve.browser_kit import browser  # noqa: F401 (the module's browser fixture)
from tests.serve.conftest import ADMIN_KEY, Server

PASSWORD = "alice-password"


@pytest.fixture(scope="module")
def two_model_server(browser, model_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    for run, stage in ((runs / "sft", "sft"), (runs / "round-2" / "ppo_ptx", "ppo")):
        shutil.copytree(model_dir, run / "model")
        write_model_card(run, stage, str(model_dir))
    db_url = f"sqlite:///{runs / 'serve.db'}"
    srv = Server(runs / "sft" / "model", db_url, runs / "server.log",
                 "--models", str(runs / "round-2" / "ppo_ptx" / "model"), "--rate_limit_per_minute", "0")
    srv.db_url = db_url
    admin = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    r = admin.post("/api/admin/users", json={"name": "alice", "role": "user", "password": PASSWORD})
    assert r.status_code == 200, r.text
    yield srv, admin
    admin.close()
    srv.stop()


@pytest.mark.browser
def test_the_chat_names_and_switches_served_models(browser, two_model_server):
    srv, admin = two_model_server
    assert [m["id"] for m in admin.get("/v1/models").json()["data"]] == ["sft", "ppo_ptx-round-2"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(srv.url + "/login.html")
    page.wait_for_selector("#model-line:has-text('Models:')")  # filled from /api/info (the CSP forbids eval)
    assert page.inner_text("#model-line").startswith("Models: sft, ppo_ptx-round-2")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("#password-form button[type=submit]")
    page.wait_for_url(re.compile(r"/(index\.html)?$"))
    page.wait_for_selector("#model-picker", state="visible")
    assert page.locator("#model-picker option").all_inner_texts() == ["sft", "ppo_ptx-round-2"]
    if not page.is_visible("#max_tokens"):
        page.click("#settings summary")
    page.fill("#max_tokens", "3")
    for model in ("ppo_ptx-round-2", "sft"):
        page.select_option("#model-picker", model)
        page.click("#new-chat")
        assert page.inner_text(".empty h2") == f"Chat with {model}"
        with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/messages")) as sent:
            page.fill("#input", "hello")
            page.press("#input", "Enter")
        assert json.loads(sent.value.post_data)["model"] == model  # the server is asked for the picked model
        page.wait_for_selector("body[data-busy='false'] .msg.assistant .model-name")
        assert page.inner_text(".msg.assistant .model-name") == model
    page.goto(srv.url + "/index.html")  # a new chat starts with the last model picked
    page.wait_for_selector("#model-picker", state="visible")
    assert page.input_value("#model-picker") == "sft"
    page.wait_for_selector("#conversations .conv >> nth=1")
    page.locator("#conversations .conv").nth(1).click()  # the older chat, with ppo_ptx: reopened with its model
    page.wait_for_selector(".msg.assistant .model-name")
    assert page.input_value("#model-picker") == "ppo_ptx-round-2"
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"

    from sqlalchemy import select

    from kaizen.serve.db import Conversation, Database, Message

    db = Database(srv.db_url)
    with db.reader() as s:  # every stored answer names the model that wrote it
        assert sorted(s.scalars(select(Message.model).where(Message.role == "assistant"))) == ["ppo_ptx-round-2", "sft"]
        assert sorted(s.scalars(select(Conversation.model))) == ["ppo_ptx-round-2", "sft"]  # reopened with its model
    db.close()


@pytest.mark.browser
def test_the_admin_page_says_which_feedback_was_not_used(browser, two_model_server):
    srv, admin = two_model_server
    cid = admin.post("/api/conversations", json={}).json()["conversation"]["id"]
    answer = admin.post(f"/api/conversations/{cid}/messages",
                        json={"content": "hi", "stream": False, "max_tokens": 3}).json()["message"]
    admin.put(f"/api/messages/{answer['id']}/rating", json={"value": 1})
    admin.delete(f"/api/conversations/{cid}")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(srv.url + "/login.html")
    page.click("#key-login summary")
    page.fill("#api-key", ADMIN_KEY)
    page.click("#key-form button[type=submit]")
    page.wait_for_url(re.compile(r"/index\.html|/$"))
    page.goto(srv.url + "/admin.html")
    page.click("#export-refresh")
    page.click("#export-unused summary")
    assert page.inner_text("#export-unused li") == "1 × thumbs_up: the user deleted the conversation (in no file)"
    context.close()
