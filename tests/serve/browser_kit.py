"""What the browser test modules share: Debian's Chromium through Playwright (which downloads no
browser), one browser per module, and small page helpers.

    from tests.serve.browser_kit import browser, need_chromium, no_overflow  # noqa: F401 (fixture)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SMALL_PHONE = {"width": 360, "height": 740}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


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


def no_overflow(page) -> None:
    """The page does not scroll sideways: nothing is wider than the window."""
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    if width > inner:
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)""")
        raise AssertionError(f"{page.url}: {width}px wide in a {inner}px window; too wide: {wide}")


def in_viewport(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"]
            and box["y"] + box["height"] <= size["height"])


def screenshot_dir(tmp_path_factory) -> Path:
    """KAIZEN_SCREENSHOTS=DIR keeps the screenshots the tests take (to look at them), else a temp dir."""
    out = Path(os.environ["KAIZEN_SCREENSHOTS"]) if os.environ.get("KAIZEN_SCREENSHOTS") else tmp_path_factory.mktemp("shots")
    out.mkdir(parents=True, exist_ok=True)
    return out
