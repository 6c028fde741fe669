"""The web UI (src/kaizen/serve/static/) in a real browser: a ``kaizen serve`` subprocess with a tiny
random model, driven by Debian's Chromium through Playwright (Playwright downloads no browser).

    apt-get install -y chromium && pytest -m browser tests/serve/test_browser.py

Answers come from a random model, so each check that needs a known answer first finds a sampling
seed whose answer is long, with the OpenAI API on the same server, then gives that seed to the UI.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.serve.conftest import ADMIN_KEY, Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STATIC = Path(__file__).parents[2] / "src" / "kaizen" / "serve" / "static"
XSS = "<img src=x onerror=window.__xss=1><script>window.__xss=2</script>"
PASSWORDS = {"alice": "alice-password", "lena": "lena-password", "bob": "bob-password"}
MAX_TOKENS = 24
# Records the text of the answer being streamed after every DOM change, to see it grow.
WATCH_STREAM = """() => {
  window.__seen = [];
  new MutationObserver(() => {
    const live = document.querySelector('#messages .streaming .msg-text');
    if (live) window.__seen.push(live.textContent);
  }).observe(document.querySelector('#messages'), {subtree: true, childList: true, characterData: true});
}"""


def need_chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test installs it in CI)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package only)")


@pytest.fixture(scope="module")
def browser():
    need_chromium()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
    pw.stop()


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


def shown(page) -> list[tuple[str, str]]:
    """(role, text) of each message on the visible branch."""
    return [(m.get_attribute("data-role"), m.query_selector(".msg-text").text_content())
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
    assert shown(page) == [("user", "hello"), ("assistant", answer_a)]
    cid = current_id(page)
    stored = conversation(ui, "alice", cid)
    assert stored["system_prompt"] == system and [m["content"] for m in stored["messages"]] == ["hello", answer_a]
    first = page.locator("#conversations .conv").first  # newest first, titled after the first message
    assert first.get_attribute("data-id") == cid and first.locator(".conv-title").inner_text() == "hello"
    assert page.inner_text("#title") == "hello"

    sampling(page, seed=seed_b)
    page.click(".msg.assistant >> text=Regenerate")
    wait_idle(page)
    assert page.inner_text(".msg.assistant .switcher .pos") == "2/2"
    assert shown(page)[1] == ("assistant", answer_b)
    page.screenshot(path=str(tmp_path / "chat.png"))
    page.click(".msg.assistant [aria-label='Previous alternative']")
    assert page.inner_text(".msg.assistant .switcher .pos") == "1/2" and shown(page)[1] == ("assistant", answer_a)
    page.click(".msg.assistant [aria-label='Next alternative']")
    assert page.inner_text(".msg.assistant .switcher .pos") == "2/2" and shown(page)[1] == ("assistant", answer_b)
    page.click(".msg.assistant >> text=Keep this one")
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
    page.click(".msg.user >> text=Edit")
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
    page.click(".msg.assistant [aria-label='Good answer']")
    page.fill(".msg.assistant .reason-input", "short and on topic")
    page.click(".msg.assistant >> text=Save reason")
    page.wait_for_selector(".msg.assistant .saved")
    answer = [m for m in conversation(ui, "alice", cid)["messages"] if m["role"] == "assistant"][0]
    assert answer["rating"]["value"] == 1 and answer["rating"]["reason"] == "short and on topic"

    page.reload()
    page.wait_for_selector(".msg.assistant .thumb.up.active")
    assert page.get_attribute(".msg.assistant [aria-label='Good answer']", "aria-pressed") == "true"
    assert page.input_value(".msg.assistant .reason-input") == "short and on topic"
    page.click(".msg.assistant [aria-label='Bad answer']")  # changing your mind replaces the rating
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
    page.locator(".msg.user").last.get_by_role("button", name="Edit").click()
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
