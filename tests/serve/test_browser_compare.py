"""The human judge in a real browser: `kaizen eval --judges human=URL` creates comparison tasks, a
labeler answers them in the labeling page (headless Chromium), `kaizen eval --collect` reports the win rate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from kaizen.data.jsonl import write_jsonl
from kaizen.eval import EvalConfig, run
from tests.serve.test_eval_judges import _second_model

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.mark.browser
def test_labeler_compares_answers_in_the_browser(start_server, model_dir, tmp_path, admin_headers):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make test installs it in CI)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package only)")
    srv = start_server(f"sqlite:///{tmp_path / 'b.db'}", tmp_path / "b.log", "--rate_limit_per_minute", "0")
    admin = httpx.Client(base_url=srv.url, headers=admin_headers, timeout=30)
    assert admin.post("/api/admin/users", json={"name": "lena", "role": "labeler",
                                                "password": "lena-password"}).status_code == 200
    prompts = tmp_path / "p.jsonl"
    write_jsonl(prompts, [{"prompt": "write a short poem about the sea"}, {"prompt": "what is two plus two"}])
    other = _second_model(model_dir, tmp_path / "other")
    out = tmp_path / "eval"
    report = run(EvalConfig(models=[f"new={other}", f"old={model_dir}"], reference="old", prompts=str(prompts),
                            judges=["human=" + srv.url], api_key=srv.key, max_new_tokens=12, temperature=1.0,
                            pretrain_blocks=0, out=str(out)))
    assert report["new"]["judges"]["human"]["pending"] and report["new"]["win_rate_vs_old"] is None
    tasks = json.loads((out / "human_tasks.json").read_text())["comparisons"][0]["tasks"]
    asked = [t for t in tasks if t["task_id"]]
    assert asked, "both models gave the same answers: nothing to compare"

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_default_timeout(15_000)
        page.goto(srv.url + "/")
        page.wait_for_url(re.compile(r"/login\.html"))
        page.fill("#username", "lena")
        page.fill("#password", "lena-password")
        page.click("#password-form button[type=submit]")
        page.wait_for_url(re.compile(r"/label\.html"))
        page.select_option("#kind-filter", "compare")
        picks = {}
        for _ in asked:
            page.wait_for_selector("text=Which answer is better?")
            assert page.inner_text("#task-title") == "Compare 2 answers"
            task_id = int(page.get_attribute("#task-body", "data-task-id"))
            shown = [c.inner_text() for c in page.query_selector_all(".compare-pair .answer-text")]
            assert len(shown) == 2
            page.click("#submit-task")  # nothing chosen yet: refused with a message, nothing sent
            page.wait_for_selector("text=Choose A, B or equally good first.")
            page.get_by_label("B is better").check()
            picks[task_id] = "B"
            page.click("#submit-task")
            page.locator(f"#task-body:not([data-task-id='{task_id}'])").or_(page.get_by_text("No tasks left")).first.wait_for()
        page.wait_for_selector("text=No tasks left")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # fits a phone screen
        browser.close()
    assert not errors, errors

    for t in asked:
        subs = admin.get(f"/api/admin/tasks/{t['task_id']}").json()["task"]["submissions"]
        assert [s["result"]["choice"] for s in subs] == ["B"] and subs[0]["labeler"] == "lena"
    collected = run(EvalConfig(collect=str(out), api_key=srv.key))
    human = collected["new"]["judges"]["human"]
    # "B" is the second answer shown: a win for "new" exactly where it was shown second (swapped).
    expected = [0.0 if not t["swapped"] else 1.0 for t in asked] + [0.5] * (len(tasks) - len(asked))
    assert human["answered"] == len(asked) and abs(human["win_rate"] - sum(expected) / len(expected)) < 1e-9
    assert human["ci95"][0] <= human["win_rate"] <= human["ci95"][1]
