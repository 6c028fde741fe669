"""The chat's prompting-strategy picker and the reasoning folded under an answer, in a real
Chromium (browser_kit.py), on the session's ``kaizen serve`` subprocess (conftest's ``server``,
which has no reward model, documents or example pool).

    KAIZEN_SCREENSHOTS=shots pytest -m browser tests/serve/test_browser_strategies.py   # keeps a PNG
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.serve.browser_kit import PHONE, browser, no_overflow  # noqa: F401 (the module's browser fixture)
from tests.serve.conftest import ADMIN_KEY

LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
XSS = "<img src=x onerror=window.__xss=1><script>window.__xss=2</script>"
# A ReAct transcript as the chat stores it, to render through the page's own modules.
TRANSCRIPT = (f"Thought: look it up {XSS}\nAction: search[{LONG_WORD}]\nObservation: `{LONG_WORD}` and "
              f"https://example.com/{LONG_WORD}\n```\n{LONG_WORD} {LONG_WORD}\n```")
RENDER = """async ([reasoning]) => {
  const {renderMessage} = await import('/js/message.js');
  const {Tree} = await import('/js/tree.js');
  const m = {id: 'fake', parent_id: null, role: 'assistant', content: 'The answer is 4.', model: 'tiny', chosen: false,
             meta: {kaizen: {strategy: 'react', reasoning, candidates: [reasoning, 'four'].map((text, i) =>
               ({text, answer: text, score: i, tokens: 3}))}}};
  document.querySelector('#messages').append(renderMessage(new Tree([m]), m, {}, false));
}"""


@pytest.fixture(scope="module")
def site(browser, server):
    admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
    r = admin.post("/api/admin/users", json={"name": "stella", "role": "user"})
    assert r.status_code == 200, r.text
    yield server.url, r.json()["api_key"]
    admin.close()


def shot(page, name: str) -> None:
    if os.environ.get("KAIZEN_SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["KAIZEN_SCREENSHOTS"]) / name))


def open_chat(browser, site, viewport, path="/index.html"):
    url, key = site
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(20_000)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + "/login.html")
    page.evaluate("key => localStorage.setItem('kaizen.token', key)", key)
    page.goto(url + path)
    page.wait_for_selector("#strategy option", state="attached")
    return page


@pytest.mark.browser
def test_strategy_answer_shows_its_reasoning_folded(browser, site):
    page = open_chat(browser, site, {"width": 1280, "height": 800})
    offered = page.eval_on_selector_all("#strategy option", "os => os.map((o) => o.value)")
    assert offered[0] == "" and "self_consistency" in offered and "cot" in offered
    assert "best_of_n" not in offered and "react" not in offered  # no reward model, no documents
    page.click("#settings summary")
    assert not page.is_visible("#strategy_n")
    page.select_option("#strategy", "self_consistency")
    page.fill("#strategy_n", "2")
    page.fill("#max_tokens", "8")
    page.fill("#input", "what is two plus two")
    page.press("#input", "Enter")
    page.wait_for_selector("body[data-busy='false'] .msg.assistant:not(.streaming)", state="attached")
    answer = page.locator(".msg.assistant").last
    assert answer.locator(".badge.strategy").inner_text() == "self_consistency@2"
    folded = answer.locator("details.reasoning")
    assert folded.get_attribute("open") is None and folded.locator("> summary").inner_text() == "Reasoning"
    assert not answer.locator(".reasoning-text").is_visible()
    folded.locator("> summary").click()
    shown = answer.locator(".reasoning-text")
    assert shown.is_visible() and "2 samples; votes:" in shown.inner_text()
    folded.locator(".candidates > summary").click()  # the samples the vote chose from, folded again
    samples = folded.locator(".candidates li .candidate-text")
    assert samples.count() == 2

    url, key = site  # the stored record is what the page shows
    cid = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('c')")
    stored = httpx.get(f"{url}/api/conversations/{cid}", headers={"Authorization": f"Bearer {key}"}).json()
    record = stored["conversation"]["messages"][-1]["meta"]["kaizen"]
    assert shown.get_attribute("data-source") == record["reasoning"] and record["strategy"] == "self_consistency@2"
    assert samples.all_inner_texts() == [c["text"] for c in record["candidates"]]
    page.reload()  # the choice is remembered, and the reasoning comes back with the conversation
    page.wait_for_selector(".msg.assistant details.reasoning")
    assert page.input_value("#strategy") == "self_consistency"
    assert not page.errors, page.errors
    page.context.close()

    phone = open_chat(browser, site, PHONE, f"/index.html#c={cid}")
    phone.click(".msg.assistant details.reasoning > summary")
    phone.wait_for_selector(".msg.assistant .reasoning-text", state="visible")
    shot(phone, "chat-reasoning-390.png")
    no_overflow(phone)
    assert not phone.errors, phone.errors
    phone.context.close()


@pytest.mark.browser
def test_reasoning_is_sanitised_and_fits_a_phone(browser, site):
    page = open_chat(browser, site, PHONE)
    page.wait_for_selector(".empty")
    page.evaluate(RENDER, [TRANSCRIPT])
    page.click(".msg[data-id='fake'] details.reasoning > summary")
    page.click(".msg[data-id='fake'] .candidates > summary")
    text = page.locator(".msg[data-id='fake'] .reasoning-text")
    assert text.is_visible() and "Observation:" in text.inner_text()
    assert "<img src=x" in text.inner_text() and text.locator("img, script").count() == 0  # raw HTML stays text
    samples = page.locator(".msg[data-id='fake'] .candidates li")
    assert samples.count() == 2 and samples.locator("img, script").count() == 0 and "score 1.000" in samples.last.inner_text()
    assert page.evaluate("window.__xss") is None
    shot(page, "chat-transcript-390.png")
    assert text.locator(".code-block").count() == 1 and text.locator("a[href^='https://example.com']").count() == 1
    no_overflow(page)
    assert not page.errors, page.errors
    page.context.close()
