"""Every page at phone and desktop width, the first start, roles, and the offline /docs, in a real
Chromium (see browser_kit.py), on the session's ``kaizen serve`` subprocess (conftest's ``server``)
with users of its own, and one browser for the module.

    KAIZEN_SCREENSHOTS=shots pytest -m browser tests/serve/test_browser_layout.py   # keeps the PNGs
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import httpx
import pytest

from tests.serve.browser_kit import (DESKTOP, PHONE, SMALL_PHONE, browser, in_viewport, no_overflow,  # noqa: F401
                                     screenshot_dir)
from tests.serve.conftest import ADMIN_KEY

LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
ANSWER = f"""Here is a table and some code:

| model | win rate | gold | truthful | harmless | KL | length | pretrain loss |
|---|---|---|---|---|---|---|---|
| sft | 0.500 | 5.571 | 0.555 | 0.000 | 0.00 | 11.9 | 1.209 |

```python
def a_function_with_a_rather_long_name(first_argument, second_argument, third_argument, fourth_argument=None):
    return first_argument + second_argument
```

See https://example.com/{LONG_WORD}/and/a/very/long/path?with=query&and=more and {LONG_WORD}.
"""


@pytest.fixture(scope="module")
def site(browser, server, tmp_path_factory):
    admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    keys = {}
    for name, role in (("nora", "user"), ("lars", "labeler")):
        r = admin.post("/api/admin/users", json={"name": name, "role": role})
        assert r.status_code == 200, r.text
        keys[name] = r.json()["api_key"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {keys['nora']}"}, timeout=30) as c:
        cid = c.post("/api/conversations", json={"title": f"A chat titled {LONG_WORD}"}).json()["conversation"]["id"]
        user = c.post(f"/api/conversations/{cid}/messages", json={"content": LONG_WORD, "generate": False}).json()
        c.post(f"/api/conversations/{cid}/messages",
               json={"content": ANSWER, "role": "assistant", "parent_id": user["user_message"]["id"]})
    rows = [{"prompt": f"Prompt {i}: {LONG_WORD}", "answers": [f"{LONG_WORD} {j}" for j in range(4)]} for i in range(3)]
    assert admin.post("/api/admin/tasks", json={"kind": "rank", "replication": 1, "rows": rows}).status_code == 200
    yield SimpleNamespace(url=server.url, log=server.log, admin=admin, keys=keys | {"admin": ADMIN_KEY}, cid=cid,
                          shots=screenshot_dir(tmp_path_factory))
    admin.close()


def open_page(browser, viewport, site, who: str | None, path: str):
    """A fresh context at ``viewport``, signed in as ``who`` (by API key) when given, at ``path``."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    if who:
        page.goto(site.url + "/login.html")
        page.evaluate("key => localStorage.setItem('kaizen.token', key)", site.keys[who])
    page.goto(site.url + path)
    return page


PAGES = [  # (name, who, path, a selector that shows the page is drawn)
    ("login", None, "/login.html", "#password-form"),
    ("chat", "nora", "/index.html#c={cid}", ".msg.assistant .code-block"),
    ("label", "lars", "/label.html", ".card >> nth=3"),
    ("admin", "admin", "/admin.html", "#task-table"),
]


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [SMALL_PHONE, PHONE, DESKTOP], ids=["360x740", "390x844", "1280x800"])
def test_every_page_fits_the_screen(browser, site, viewport):
    for name, who, path, ready in PAGES:
        page = open_page(browser, viewport, site, who, path.format(cid=site.cid))
        page.wait_for_selector(ready)
        page.wait_for_timeout(100)  # fonts and layout settle
        page.screenshot(path=str(site.shots / f"{name}-{viewport['width']}.png"), full_page=name != "chat")
        no_overflow(page)
        if name == "chat":
            assert page.is_visible("#send") and in_viewport(page, "#send"), "Send is off screen"
            assert in_viewport(page, "#input")
            assert page.is_visible("#sidebar-toggle") == (viewport is not DESKTOP)
        if viewport is not DESKTOP and who:  # the account menu fits too
            page.click("#who")
            page.wait_for_selector("#account-menu:not([hidden])")
            assert in_viewport(page, "#account-menu")
            no_overflow(page)
            page.screenshot(path=str(site.shots / f"{name}-menu-{viewport['width']}.png"))
        assert not page.errors, page.errors
        page.context.close()


@pytest.mark.browser
def test_phone_chat_list_is_a_drawer(browser, site):
    page = open_page(browser, PHONE, site, "nora", "/index.html")
    page.wait_for_selector(".empty")
    assert not page.is_visible("#sidebar")
    page.click("#sidebar-toggle")
    page.wait_for_selector("#sidebar", state="visible")
    assert page.get_attribute("#sidebar-toggle", "aria-expanded") == "true"
    page.wait_for_timeout(300)  # the slide-in transition
    page.screenshot(path=str(site.shots / "chat-drawer-390.png"))
    no_overflow(page)
    page.click(f"#conversations .conv[data-id='{site.cid}']")
    page.wait_for_selector("#sidebar", state="hidden")
    page.wait_for_selector(".msg.assistant .code-block")
    assert in_viewport(page, "#send")
    page.click("#sidebar-toggle")
    page.wait_for_selector("#sidebar", state="visible")
    page.keyboard.press("Escape")
    page.wait_for_selector("#sidebar", state="hidden")
    assert not page.errors, page.errors
    page.context.close()


@pytest.mark.browser
def test_first_start_link_signs_the_admin_in_once(browser, site):
    links = re.findall(r"https?://\S+/login\.html#link=[\w-]+", site.log.read_text())
    assert len(links) == 1, site.log.read_text()
    page = open_page(browser, PHONE, site, None, "/login.html")
    page.goto(links[0].replace(re.match(r"https?://[^/]+", links[0]).group(0), site.url))
    page.wait_for_selector("#welcome:not([hidden])")
    assert "#link" not in page.url  # the token leaves the address bar at once
    assert page.inner_text("#welcome-name") == "admin"
    page.screenshot(path=str(site.shots / "first-start-390.png"))
    no_overflow(page)
    page.fill("#set-password", "a new admin password")
    page.fill("#set-password-again", "a new admin password")
    page.click("#set-password-form button[type=submit]")
    page.wait_for_url(re.compile(r"/admin\.html"))
    page.wait_for_selector("#stats .tile")

    page.evaluate("localStorage.clear()")
    page.goto(links[0].replace(re.match(r"https?://[^/]+", links[0]).group(0), site.url))  # a second use fails
    assert "already used or has expired" in page.wait_for_selector("#login-error:not([hidden])").inner_text()
    page.fill("#username", "admin")
    page.fill("#password", "a new admin password")  # the password set above works
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("#who")
    assert page.inner_text("#who") == "admin"  # 390 px: the role is hidden
    assert not page.errors, page.errors
    page.context.close()


@pytest.mark.browser
def test_labeler_on_the_admin_page_is_told_why(browser, site):
    page = open_page(browser, DESKTOP, site, "lars", "/admin.html")
    denied = page.wait_for_selector("#denied")
    assert "Admins only" in denied.inner_text() and "lars (labeler)" in denied.inner_text()
    assert page.url.endswith("/admin.html")  # no silent redirect
    assert page.locator("#stats-panel").count() == 0
    assert page.locator(".topbar nav a").all_inner_texts() == ["Chat", "Labeling"]
    page.screenshot(path=str(site.shots / "admin-denied-1280.png"))
    page.click("#denied a")
    page.wait_for_url(re.compile(r"/label\.html"))
    page.context.close()

    page = open_page(browser, DESKTOP, site, "nora", "/label.html")  # a plain user on the labeling page
    assert "Labelers only" in page.wait_for_selector("#denied").inner_text()
    page.context.close()


@pytest.mark.browser
def test_docs_render_with_no_outside_request(browser, site):
    outside = []
    context = browser.new_context(viewport=DESKTOP)

    def only_local(route):
        if route.request.url.startswith(site.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.goto(site.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title >> text=Kaizen")
    page.wait_for_selector(".opblock-summary-path[data-path='/v1/chat/completions']")
    page.screenshot(path=str(site.shots / "docs-1280.png"))
    assert outside == []
    context.close()


def test_docs_page_points_at_the_vendored_assets(app_client):
    html = app_client.get("/docs").text
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in html and "/vendor/swagger-ui/swagger-ui.css" in html
    assert not re.search(r"(src|href)=['\"]https?://", html), "an asset still loads from outside"
    js = app_client.get("/vendor/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and len(js.content) > 500_000
    assert app_client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not served


@pytest.mark.browser
def test_account_menu_sets_a_password(browser, site):
    page = open_page(browser, PHONE, site, "nora", "/index.html")
    page.click("#who")
    menu = page.wait_for_selector("#account-menu:not([hidden])")
    assert "no password yet" in menu.inner_text() and not page.is_visible("#old-password")
    page.fill("#new-password", "nora's new password")
    page.click("#account-menu button[type=submit]")
    page.wait_for_selector("#account-menu >> text=Password saved")
    page.click("#account-menu >> text=Sign out")  # on a phone, signing out is in the menu
    page.wait_for_url(re.compile(r"/login\.html"))
    page.fill("#username", "nora")
    page.fill("#password", "nora's new password")
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("#who")
    assert page.url.startswith(site.url + "/index.html")
    assert not page.errors, page.errors
    page.context.close()
