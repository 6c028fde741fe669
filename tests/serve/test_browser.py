"""The web UI (src/kaizen/serve/static/) in a real browser: a ``kaizen serve`` subprocess with a tiny
random model, driven by Debian's Chromium through Playwright (Playwright downloads no browser).

    apt-get install -y chromium && pytest -m browser tests/serve/test_browser.py

Answers come from a random model, so each check that needs a known answer first finds a sampling
seed whose answer is long, with the OpenAI API on the same server, then gives that seed to the UI.
Answers are shown as Markdown, so checks of *which* text is shown read the message's
``data-source`` (the exact text it renders); the Markdown tests check what the rendering makes of it.
Layout at phone and desktop width, first start and /docs are in test_browser_layout.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.serve.browser_kit import browser  # noqa: F401 (the module's browser fixture)
from tests.serve.conftest import ADMIN_KEY, Server

STATIC = Path(__file__).parents[2] / "src" / "kaizen" / "serve" / "static"
XSS = "<img src=x onerror=window.__xss=1><script>window.__xss=2</script>"
PASSWORDS = {"alice": "alice-password", "lena": "lena-password", "bob": "bob-password"}
MAX_TOKENS = 24
# Records the answer being streamed after every DOM change (the text it renders, and what the
# page shows of it), to see it grow.
WATCH_STREAM = """() => {
  window.__seen = [];
  window.__shown = [];
  new MutationObserver(() => {
    const live = document.querySelector('#messages .streaming .msg-text');
    if (live) { window.__seen.push(live.dataset.source); window.__shown.push(live.textContent); }
  }).observe(document.querySelector('#messages'), {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def ui(browser, model_dir, tmp_path_factory):
    """The server, an admin client, and the users alice (user), lena and bob (labelers) with their keys."""
    tmp = tmp_path_factory.mktemp("ui-server")
    srv = Server(model_dir, f"sqlite:///{tmp / 'serve.db'}", tmp / "server.log", "--rate_limit_per_minute", "0",
                 "--max_new_tokens", str(MAX_TOKENS))
    admin = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    keys = {}
    for name, role in (("alice", "user"), ("lena", "labeler"), ("bob", "labeler")):
        r = admin.post("/api/admin/users", json={"name": name, "role": role, "password": PASSWORDS[name]})
        assert r.status_code == 200, r.text
        keys[name] = r.json()["api_key"]
    model = admin.get("/v1/models").json()["data"][0]["id"]
    yield SimpleNamespace(url=srv.url, admin=admin, keys=keys, model=model,
                          as_user=lambda name: httpx.Client(base_url=srv.url, timeout=30,
                                                            headers={"Authorization": f"Bearer {keys[name]}"}))
    admin.close()
    srv.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 850}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def login(page, ui, name: str) -> None:
    page.goto(ui.url + "/")
    page.wait_for_url(re.compile(r"/login\.html"))
    page.fill("#username", name)
    page.fill("#password", PASSWORDS[name])
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("#who")


def long_answers(ui, messages: list[dict], count: int) -> list[tuple[int, str]]:
    """``count`` (seed, answer) pairs whose answers run to MAX_TOKENS and differ from each other."""
    found = {}
    for seed in range(100):
        r = ui.admin.post("/v1/chat/completions", json={"model": ui.model, "messages": messages, "seed": seed,
                                                         "max_tokens": MAX_TOKENS, "temperature": 0.7}).json()
        choice = r["choices"][0]
        if choice["finish_reason"] == "length" and choice["message"]["content"] not in found.values():
            found[seed] = choice["message"]["content"]
            if len(found) == count:
                return list(found.items())
    raise AssertionError("no seeds with long answers")


def sampling(page, max_tokens: int | None = MAX_TOKENS, seed: int | None = None) -> None:
    if not page.is_visible("#seed"):
        page.click("#settings summary")
    page.fill("#max_tokens", "" if max_tokens is None else str(max_tokens))
    page.fill("#seed", "" if seed is None else str(seed))


def send(page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")
    wait_idle(page)


def wait_idle(page) -> None:
    """Until the answer being generated is done and stored (the chat marks the body while busy)."""
    page.wait_for_selector("body[data-busy='false']", state="attached")


def act(page, label: str, message: str = ".msg.assistant") -> None:
    """Click an action of ``message`` the way a person does: point at the message (actions show on
    hover or focus only), then click the button named ``label``."""
    msg = page.locator(message).last
    msg.locator(".msg-card").hover()
    msg.locator(".msg-actions").get_by_role("button", name=label, exact=True).click()


def shown(page) -> list[tuple[str, str]]:
    """(role, text) of each message on the visible branch."""
    return [(m.get_attribute("data-role"), m.query_selector(".msg-text").get_attribute("data-source"))
            for m in page.query_selector_all("#messages .msg")]


def conversation(ui, name: str, cid: str) -> dict:
    with ui.as_user(name) as c:
        return c.get(f"/api/conversations/{cid}").json()["conversation"]


def current_id(page) -> str:
    return re.search(r"#c=([\w-]+)", page.url).group(1)


@pytest.mark.browser
def test_login_logout_and_api_key(page, ui):
    page.goto(ui.url + "/")
    page.wait_for_url(re.compile(r"/login\.html"))
    page.fill("#username", "alice")
    page.fill("#password", "wrong password")
    page.click("#password-form button[type=submit]")
    assert "Wrong username or password" in page.wait_for_selector("#login-error:not([hidden])").inner_text()

    login(page, ui, "alice")
    assert page.inner_text("#who") == "alice · user"
    assert page.locator(".topbar nav a").all_inner_texts() == ["Chat"]
    assert page.evaluate("localStorage.getItem('kaizen.token')").startswith("kz-")
    page.click("#logout")
    page.wait_for_url(re.compile(r"/login\.html"))
    assert page.evaluate("localStorage.getItem('kaizen.token')") is None
    page.goto(ui.url + "/admin.html")  # signed out: every page sends you to the login
    page.wait_for_url(re.compile(r"/login\.html\?next="))

    page.click("#key-login summary")
    page.fill("#api-key", ADMIN_KEY)
    page.click("#key-form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin\.html"))
    page.wait_for_selector("#who")
    assert page.locator(".topbar nav a").all_inner_texts() == ["Chat", "Labeling", "Admin"]

    page.click("#logout")
    page.wait_for_url(re.compile(r"/login\.html$"))
    page.goto(ui.url + "/login.html?next=//example.com/")  # `next` never leaves the site
    page.fill("#username", "alice")
    page.fill("#password", PASSWORDS["alice"])
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("#who")
    assert page.url.startswith(ui.url + "/index.html")


@pytest.mark.browser
def test_chat_streams_regenerates_and_switches(page, ui, tmp_path):
    system = "Be brief."
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "hello"}]
    (seed_a, answer_a), (seed_b, answer_b) = long_answers(ui, messages, 2)
    login(page, ui, "alice")
    sampling(page, seed=seed_a)
    page.click("#new-chat")
    page.fill("#system-prompt", system)
    page.evaluate(WATCH_STREAM)
    send(page, "hello")

    seen = page.evaluate("window.__seen")
    grew = [s for i, s in enumerate(seen) if s and (i == 0 or s != seen[i - 1])]
    assert len(grew) >= 3 and all(answer_a.startswith(s) for s in grew), seen  # shown token by token
    painted = [s for s in page.evaluate("window.__shown") if s]
    assert painted, "the answer was not shown while it streamed"  # repainted once per frame, so maybe few times
    assert shown(page) == [("user", "hello"), ("assistant", answer_a)]
    cid = current_id(page)
    stored = conversation(ui, "alice", cid)
    assert stored["system_prompt"] == system and [m["content"] for m in stored["messages"]] == ["hello", answer_a]
    first = page.locator("#conversations .conv").first  # newest first, titled after the first message
    assert first.get_attribute("data-id") == cid and first.locator(".conv-title").inner_text() == "hello"
    assert page.inner_text("#title") == "hello"

    sampling(page, seed=seed_b)
    act(page, "Regenerate")
    wait_idle(page)
    assert page.inner_text(".msg.assistant .switcher .pos") == "2/2"
    assert shown(page)[1] == ("assistant", answer_b)
    page.screenshot(path=str(tmp_path / "chat.png"))
    page.click(".msg.assistant [aria-label='Previous alternative']")
    assert page.inner_text(".msg.assistant .switcher .pos") == "1/2" and shown(page)[1] == ("assistant", answer_a)
    page.click(".msg.assistant [aria-label='Next alternative']")
    assert page.inner_text(".msg.assistant .switcher .pos") == "2/2" and shown(page)[1] == ("assistant", answer_b)
    act(page, "Keep this one")
    page.wait_for_selector(".msg.assistant .badge.good")
    answers = [m for m in conversation(ui, "alice", cid)["messages"] if m["role"] == "assistant"]
    assert [(m["content"], m["chosen"]) for m in answers] == [(answer_a, False), (answer_b, True)]

    page.reload()  # the open conversation and the kept alternative survive a reload
    page.wait_for_selector(".msg.assistant .badge.good")
    assert shown(page)[1] == ("assistant", answer_b)


@pytest.mark.browser
def test_edit_branches_and_multi_turn(page, ui):
    login(page, ui, "alice")
    sampling(page)
    page.click("#new-chat")
    send(page, "what is two plus two")
    cid = current_id(page)
    act(page, "Edit", ".msg.user")
    page.fill(".msg.user .edit-box", "what is two plus three")
    page.click("text=Save & submit")
    wait_idle(page)
    assert page.inner_text(".msg.user .switcher .pos") == "2/2"
    assert [r for r, _ in shown(page)] == ["user", "assistant"] and shown(page)[0][1] == "what is two plus three"
    send(page, "and times four")  # continues the edited branch
    assert [t for r, t in shown(page) if r == "user"] == ["what is two plus three", "and times four"]

    stored = conversation(ui, "alice", cid)["messages"]
    by_id = {m["id"]: m for m in stored}
    roots = [m for m in stored if m["parent_id"] is None]
    assert [m["content"] for m in roots] == ["what is two plus two", "what is two plus three"]
    last = next(m for m in stored if m["content"] == "and times four")
    assert by_id[by_id[last["parent_id"]]["parent_id"]]["id"] == roots[1]["id"]

    page.click(".msg.user [aria-label='Previous alternative']")  # back to the first branch
    assert [(r, t) for r, t in shown(page) if r == "user"] == [("user", "what is two plus two")]
    assert len(shown(page)) == 2
    assert page.locator("#conversations .conv").first.get_attribute("data-id") == cid


@pytest.mark.browser
def test_thumbs_up_with_reason_persists(page, ui):
    login(page, ui, "alice")
    sampling(page)
    page.click("#new-chat")
    send(page, "write a short poem about the sea")
    cid = current_id(page)
    act(page, "Good answer")
    page.fill(".msg.assistant .reason-input", "short and on topic")
    page.click(".msg.assistant >> text=Save reason")
    page.wait_for_selector(".msg.assistant .saved")
    answer = [m for m in conversation(ui, "alice", cid)["messages"] if m["role"] == "assistant"][0]
    assert answer["rating"]["value"] == 1 and answer["rating"]["reason"] == "short and on topic"

    page.reload()
    page.wait_for_selector(".msg.assistant .thumb.up.active")
    assert page.get_attribute(".msg.assistant [aria-label='Good answer']", "aria-pressed") == "true"
    assert page.input_value(".msg.assistant .reason-input") == "short and on topic"
    act(page, "Bad answer")  # changing your mind replaces the rating
    page.wait_for_selector(".msg.assistant .thumb.down.active")
    answer = [m for m in conversation(ui, "alice", cid)["messages"] if m["role"] == "assistant"][0]
    assert answer["rating"]["value"] == -1


@pytest.mark.browser
def test_markup_in_messages_is_shown_as_text(page, ui):
    with ui.as_user("alice") as c:  # an answer with markup, as if the model had written it
        cid = c.post("/api/conversations", json={}).json()["conversation"]["id"]
        user = c.post(f"/api/conversations/{cid}/messages", json={"content": XSS, "generate": False}).json()
        c.post(f"/api/conversations/{cid}/messages",
               json={"content": f"Sure:\n{XSS}", "role": "assistant", "parent_id": user["user_message"]["id"]})
    login(page, ui, "alice")
    page.click(f"#conversations .conv[data-id='{cid}']")
    page.wait_for_selector(".msg.assistant")
    assert shown(page) == [("user", XSS), ("assistant", f"Sure:\n{XSS}")]
    assert page.get_by_text(XSS, exact=True).first.is_visible()
    assert page.locator(f"#conversations .conv[data-id='{cid}'] .conv-title").inner_text() == XSS

    sampling(page)
    send(page, XSS + "\nagain")  # typed into the composer and streamed back
    assert shown(page)[-2] == ("user", XSS + "\nagain")
    act(page, "Edit", ".msg.user")
    assert page.input_value(".msg.user .edit-box") == XSS + "\nagain"
    page.wait_for_timeout(300)  # a broken <img> would have fired onerror by now
    assert page.locator("#messages img, #messages script, #conversations img").count() == 0
    assert page.evaluate("window.__xss") is None


@pytest.mark.browser
def test_labeler_ranks_with_a_tie_then_writes_a_demonstration(page, ui, tmp_path):
    answers = ["Red.", "Blue is a colour.", XSS, "I cannot help with that."]
    prompt = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Name a colour."}]
    made = ui.admin.post("/api/admin/tasks", json={"kind": "rank", "replication": 2,
                                                   "rows": [{"messages": prompt, "answers": answers}]}).json()
    demo = ui.admin.post("/api/admin/tasks", json={"kind": "demonstration",
                                                   "rows": [{"prompt": "Say hi politely"}]}).json()
    login(page, ui, "lena")  # a labeler lands on the labeling page
    page.wait_for_url(re.compile(r"/label\.html"))
    page.wait_for_selector(".card >> nth=3")
    assert page.inner_text("#task-title") == "Rank 4 answers"
    assert "Labeling guidelines" in page.inner_text("#guidelines")
    assert [c.inner_text() for c in page.query_selector_all(".card .answer-text")] == answers

    card = lambda letter: page.locator(f".card[aria-label='Answer {letter}']")  # noqa: E731
    card("D").drag_to(page.locator(".bucket[data-rank='1']"), source_position={"x": 12, "y": 12})  # by its head
    assert card("D").locator(".rank-select").input_value() == "1"
    card("D").locator(".move-down").click()
    card("D").locator(".move-down").click()  # rank 3
    card("A").locator(".move-down").click()  # from "not ranked" down into rank 1
    card("B").locator(".rank-select").select_option("2")
    card("C").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # rank 2: a tie with B

    def bucket(rank: int) -> list[str]:
        return [c.get_attribute("aria-label") for c in page.query_selector_all(f".bucket[data-rank='{rank}'] .card")]

    assert [bucket(r) for r in range(5)] == [[], ["Answer A"], ["Answer B", "Answer C"], ["Answer D"], []]

    card("A").locator(".helpful").select_option("6")
    card("A").locator(".truthful").select_option("yes")
    card("A").locator(".harmless").select_option("yes")
    card("C").locator(".flags summary").click()
    card("C").get_by_label("hallucination (Answer C)").check()
    card("D").locator(".helpful").select_option("2")
    page.fill("#rank-comment", "B and C are equally fine")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(tmp_path / "ranking.png"), full_page=True)
    assert page.evaluate("window.__xss") is None and page.locator(".card img").count() == 0

    page.click("#submit-task")
    page.wait_for_selector("#demo-answer")
    assert page.inner_text("#task-title") == "Write the ideal answer"
    assert "Say hi politely" in page.inner_text(".prompt")
    page.fill("#demo-answer", "Hello! How can I help you today?")
    page.click("#submit-task")
    page.wait_for_selector("text=No tasks left")

    task = ui.admin.get(f"/api/admin/tasks/{made['task_ids'][0]}").json()["task"]
    result = task["submissions"][0]["result"]
    assert task["submissions"][0]["labeler"] == "lena"
    assert result["ranks"] == [1, 2, 2, 3] and result["all_bad"] is False
    assert result["comment"] == "B and C are equally fine"
    assert result["judgements"] == [{"helpful": 6, "truthful": True, "harmless": True, "flags": []},
                                    {"helpful": None, "truthful": None, "harmless": None, "flags": []},
                                    {"helpful": None, "truthful": None, "harmless": None, "flags": ["hallucination"]},
                                    {"helpful": 2, "truthful": None, "harmless": None, "flags": []}]
    written = ui.admin.get(f"/api/admin/tasks/{demo['task_ids'][0]}").json()["task"]["submissions"]
    assert written[0]["result"]["answer"] == "Hello! How can I help you today?"


@pytest.mark.browser
def test_admin_creates_tasks_from_a_file_and_sees_agreement(page, ui, tmp_path):
    prompt = "Which planet is largest?"
    rows = [{"prompt": prompt, "answers": ["Jupiter.", "Saturn.", "Jupiter, by far.", "The Sun."]}]
    page.goto(ui.url + "/login.html")
    page.click("#key-login summary")
    page.fill("#api-key", ADMIN_KEY)
    page.click("#key-form button[type=submit]")
    page.wait_for_url(re.compile(r"/index\.html|/$"))
    page.goto(ui.url + "/admin.html")
    page.wait_for_selector("#stats .tile")
    page.set_input_files("#task-file", files=[{"name": "prompts.jsonl", "mimeType": "application/jsonl",
                                               "buffer": "".join(json.dumps(r) + "\n" for r in rows).encode()}])
    page.fill("#task-replication", "2")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#task-result >> text=Created 1 task")
    task_id = ui.admin.get("/api/admin/tasks").json()["tasks"][0]["id"]
    assert ui.admin.get(f"/api/admin/tasks/{task_id}").json()["task"]["prompt"][-1]["content"] == prompt

    for name, ranks in (("lena", [1, 3, 2, 4]), ("bob", [1, 3, 1, 4])):  # agree on 5 of 6 answer pairs
        with ui.as_user(name) as c:
            while (task := c.get("/api/labeling/next?kind=rank").json()["task"])["id"] != task_id:
                c.post(f"/api/labeling/tasks/{task['id']}/skip")
            assert c.post(f"/api/labeling/tasks/{task_id}/submit", json={"ranks": ranks}).status_code == 200
    page.click("#refresh")
    expected = ui.admin.get("/api/admin/agreement").json()
    assert expected["overall"] is not None
    page.wait_for_selector(f"#agreement-overall >> text={100 * expected['overall']:.1f}%")
    labelers = page.locator("#agreement-labelers tbody tr").all_inner_texts()
    assert any(row.startswith("bob") for row in labelers) and any(row.startswith("lena") for row in labelers)
    page.wait_for_selector(f"#task-table tr:has-text('{prompt}') .status.done")
    page.click(f"#task-table button:text-is('#{task_id}')")
    detail = page.wait_for_selector("#task-detail .detail")
    assert "Submissions (2)" in detail.inner_text() and "ranks 1, 3, 1, 4" in detail.inner_text()

    with page.expect_download() as download:
        page.click("text=Download rankings.jsonl")
    lines = Path(download.value.path()).read_text().splitlines()
    assert any(json.loads(line).get("meta", {}).get("task_id") == task_id for line in lines)


def test_ui_code_never_parses_html():
    """Data reaches the page only as text: no HTML-parsing sinks in the UI's JavaScript."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|srcdoc")
    scripts = sorted((STATIC / "js").glob("*.js"))
    assert scripts
    for path in scripts:
        assert not sinks.search(path.read_text()), f"{path.name} uses an HTML sink"
    # HTML is made in one place, markdown.js, and each piece of it goes through DOMPurify.
    makers = [p.name for p in scripts if re.search(r"vendor/(marked|highlight)/", p.read_text())]
    assert makers == ["markdown.js"], makers
    source = (STATIC / "js" / "markdown.js").read_text()
    assert re.search(r"DOMPurify\.sanitize\(marked\.parse\(", source)
    assert re.search(r"const html = hljs\.highlight\(.*\n.*DOMPurify\.sanitize\(html, CODE_ONLY\)", source)


MARKDOWN = """# Heading

Some **bold** and *italic* and `inline <b>code</b>`.

- one
- two

| a | b |
|---|---|
| 1 | 2 |

```python
def add(a, b):
    return a + b  # <img src=x onerror=window.__xss=11>
```

```html
<script>window.__xss=12</script><img src=x onerror=window.__xss=13>
```

<script>window.__xss=14</script>

<img src=x onerror=window.__xss=15>

<a href="javascript:window.__xss=16">raw link</a> <iframe src="javascript:window.__xss=17"></iframe>
<svg onload=window.__xss=18></svg> <div style="position:fixed;inset:0" onmouseover="window.__xss=19">cover</div>

[js link](javascript:window.__xss=20) [JS link](JaVaScRiPt:window.__xss=21) [data link](data:text/html,<script>x</script>)
[ok link](https://example.com/page) <javascript:window.__xss=22> [relative](/api/admin/users)
![pixel](x" onerror="window.__xss=23) ![tracker](https://example.com/t.png)
"""
PYTHON_CODE = "def add(a, b):\n    return a + b  # <img src=x onerror=window.__xss=11>"
# Every element and attribute name inside the rendered Markdown, to look for what must not be there
# (the page's own icons are SVG, so the check is on what the renderer made).
DOM_NAMES = """() => [...document.querySelectorAll('#messages .markdown *')].map((e) =>
  [e.tagName.toLowerCase(), [...e.attributes].map((a) => a.name)])"""


def markdown_chat(ui, content: str = MARKDOWN) -> str:
    with ui.as_user("alice") as c:
        cid = c.post("/api/conversations", json={}).json()["conversation"]["id"]
        user = c.post(f"/api/conversations/{cid}/messages", json={"content": "show me markdown", "generate": False}).json()
        c.post(f"/api/conversations/{cid}/messages",
               json={"content": content, "role": "assistant", "parent_id": user["user_message"]["id"]})
    return cid


@pytest.mark.browser
def test_markdown_answers_render_safely(page, ui):
    cid = markdown_chat(ui)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui.url)
    login(page, ui, "alice")
    page.click(f"#conversations .conv[data-id='{cid}']")
    md = page.wait_for_selector(".msg.assistant .msg-text.markdown")
    assert shown(page)[1] == ("assistant", MARKDOWN)
    assert page.inner_text(".msg.assistant h1") == "Heading"
    assert page.inner_text(".msg.assistant strong") == "bold" and page.inner_text(".msg.assistant em") == "italic"
    assert page.inner_text(".msg.assistant p code") == "inline <b>code</b>"
    assert page.locator(".msg.assistant ul > li").all_inner_texts() == ["one", "two"]
    assert page.locator(".msg.assistant .table-wrap table td").all_inner_texts() == ["1", "2"]

    blocks = page.locator(".msg.assistant .code-block")
    assert blocks.count() == 2
    assert blocks.nth(0).locator(".code-lang").inner_text() == "python"
    assert blocks.nth(0).locator("pre code").text_content() == PYTHON_CODE + "\n"
    assert blocks.nth(0).locator("pre code .hljs-keyword").first.inner_text() == "def"  # highlighted
    assert blocks.nth(1).locator("pre code").text_content() == (
        "<script>window.__xss=12</script><img src=x onerror=window.__xss=13>\n")  # HTML in a fence is text

    text = md.text_content()  # raw HTML in the answer is shown, as characters
    for raw in ("<script>window.__xss=14</script>", "<img src=x onerror=window.__xss=15>",
                '<a href="javascript:window.__xss=16">raw link</a>', "<svg onload=window.__xss=18></svg>"):
        assert raw in text, raw
    names = page.evaluate(DOM_NAMES)
    tags = {tag for tag, _ in names}
    assert not tags & {"script", "img", "iframe", "svg", "object", "embed", "style", "form"}, tags
    assert not [attrs for _, attrs in names if any(a.startswith("on") or a in ("style", "srcdoc") for a in attrs)]
    links = page.eval_on_selector_all(".msg.assistant .markdown a", "as => as.map((a) => [a.textContent, "
                                      "a.getAttribute('href'), a.target, a.rel])")
    with_href = [(t, href, target, rel) for t, href, target, rel in links if href is not None]
    assert with_href == [("ok link", "https://example.com/page", "_blank", "noopener noreferrer nofollow"),
                         ("tracker", "https://example.com/t.png", "_blank", "noopener noreferrer nofollow")]
    assert {t for t, href, _, _ in links if href is None} >= {"js link", "JS link", "data link", "relative"}
    for a in page.query_selector_all(".msg.assistant .markdown a:not([href])"):
        a.click()  # the links whose URL was dropped do nothing
    page.mouse.move(5, 400)
    page.wait_for_timeout(300)  # a handler that slipped through would have run by now
    assert page.evaluate("window.__xss") is None

    blocks.nth(0).locator(".copy-code").click()  # a code block's copy button copies its code, exactly
    page.wait_for_selector(".copy-code >> text=Copied")
    assert page.evaluate("navigator.clipboard.readText()") == PYTHON_CODE
    act(page, "Copy")  # the message's copy action copies its Markdown
    page.wait_for_selector(".toast >> text=Copied")
    assert page.evaluate("navigator.clipboard.readText()") == MARKDOWN


OPACITY_IS = "([selector, value]) => getComputedStyle(document.querySelector(selector)).opacity === value"


@pytest.mark.browser
def test_actions_show_on_hover_or_focus_and_toasts_can_be_dismissed(page, ui):
    cid = markdown_chat(ui, "A plain answer.")
    login(page, ui, "alice")
    page.click(f"#conversations .conv[data-id='{cid}']")
    page.wait_for_selector(".msg.assistant .msg-text")
    copy_user = ".msg.user [aria-label='Copy']"
    page.mouse.move(5, 400)
    page.wait_for_function(OPACITY_IS, arg=[copy_user, "0"])  # no permanent row of buttons
    page.hover(".msg.user .msg-card")
    page.wait_for_function(OPACITY_IS, arg=[copy_user, "1"])
    page.mouse.move(5, 400)
    page.wait_for_function(OPACITY_IS, arg=[copy_user, "0"])
    page.focus("#input")
    page.keyboard.press("Shift+Tab")  # from the composer back into the last answer's actions, by keyboard
    assert page.evaluate("document.activeElement.closest('.msg.assistant .msg-actions') !== null")
    page.wait_for_function("() => getComputedStyle(document.activeElement).opacity === '1'")  # shown once focused

    page.route("**/api/messages/*/rating", lambda route: route.fulfill(
        status=500, content_type="application/json", body=json.dumps({"error": {"message": "rating store is down"}})))
    act(page, "Good answer")
    page.wait_for_selector(".toast.error >> text=rating store is down")
    page.click(".toast.error [aria-label='Dismiss']")
    page.wait_for_selector(".toast.error", state="detached")
    act(page, "Good answer")
    page.wait_for_selector(".toast.error")
    page.click("#new-chat")  # an error about the last chat does not stay over the next one
    page.wait_for_selector(".toast", state="detached")
    page.unroute("**/api/messages/*/rating")


@pytest.mark.browser
def test_model_picker_follows_v1_models(page, ui):
    login(page, ui, "alice")
    page.wait_for_selector(".empty")
    assert not page.is_visible("#model-picker")  # one model: no picker, its name instead
    assert page.inner_text(".empty h2") == f"Chat with {ui.model}"
    sampling(page, max_tokens=4)
    page.click("#new-chat")
    send(page, "hello")
    assert page.inner_text(".msg.assistant .model-name") == ui.model

    models = {"object": "list", "data": [{"id": ui.model, "object": "model", "created": 0, "owned_by": "kaizen"},
                                         {"id": "ppo-round-2", "object": "model", "created": 0, "owned_by": "kaizen"}]}
    page.route("**/v1/models", lambda route: route.fulfill(status=200, content_type="application/json",
                                                            body=json.dumps(models)))
    page.goto(ui.url + "/index.html")
    page.wait_for_selector("#model-picker", state="visible")
    assert page.locator("#model-picker option").all_inner_texts() == [ui.model, "ppo-round-2"]
    page.select_option("#model-picker", "ppo-round-2")
    assert page.inner_text(".empty h2") == "Chat with ppo-round-2"
    page.goto(ui.url + "/index.html")  # a new chat: the choice is remembered
    page.wait_for_selector("#model-picker", state="visible")
    assert page.input_value("#model-picker") == "ppo-round-2"
    page.unroute("**/v1/models")
    # Chatting with the picked model needs a server that serves it: test_browser_models.py.
