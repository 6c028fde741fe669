"""First start of ``kaizen serve``: the one-time sign-in link for an admin without a password, and
one clear line (not a traceback) for a model directory that cannot be served."""

from __future__ import annotations

import json

import pytest

from kaizen.serve import cli
from kaizen.serve.account_api import issue_login_link
from kaizen.serve.auth import hash_password
from kaizen.serve.db import User


def test_login_link_is_single_use_and_expires(make_app):
    client = make_app()
    with client:
        app = client.app
        db = app.state.kaizen.db
        token = issue_login_link(app, db, "admin")
        assert token and len(token) >= 40
        first = client.post("/api/login/link", json={"token": token})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["user"]["name"] == "admin" and body["user"]["role"] == "admin" and body["has_password"] is False
        me = client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"}).json()
        assert me["user"]["name"] == "admin" and me["has_password"] is False
        again = client.post("/api/login/link", json={"token": token})  # single use
        assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_login_link"
        assert client.post("/api/login/link", json={"token": "kz-guess"}).status_code == 401

        stale = issue_login_link(app, db, "admin", minutes=-1)  # already expired
        assert client.post("/api/login/link", json={"token": stale}).status_code == 401
        assert issue_login_link(app, db, "nobody") is None

        with db.session() as s:  # once the admin has a password, no link is printed any more
            s.query(User).filter(User.name == "admin").one().password_hash = hash_password("a good password")
        assert issue_login_link(app, db, "admin") is None


@pytest.fixture
def dirs(tmp_path, model_dir):
    (tmp_path / "empty").mkdir()
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "config.json").write_text("{}")
    rm = tmp_path / "rm"
    rm.mkdir()
    config = json.loads((model_dir / "config.json").read_text())
    (rm / "config.json").write_text(json.dumps(config | {"architectures": ["LlamaForSequenceClassification"],
                                                         "kaizen_reward_bias": 0.0}))
    adapter = tmp_path / "lora" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    prompt_tuned = tmp_path / "pt" / "model"
    prompt_tuned.mkdir(parents=True)
    (prompt_tuned / "adapter_config.json").write_text(json.dumps({"peft_type": "PROMPT_TUNING"}))
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    no_tok = tmp_path / "no-tokenizer"
    no_tok.mkdir()
    (no_tok / "config.json").write_text((model_dir / "config.json").read_text())
    (tmp_path / "file.bin").write_text("x")
    return tmp_path


@pytest.mark.parametrize("name, expected", [
    ("missing/dir/x", "no such directory"),
    ("file.bin", "is a file"),
    ("empty", "has no config.json: not a transformers model directory"),
    ("run", "did you mean"),
    ("rm", "is a reward model (LlamaForSequenceClassification)"),
    ("lora/adapter", "is a LoRA adapter"),
    ("pt/model", "is a prompt-tuning adapter"),
    ("bert", "holds a 'bert' model (BertModel), not a causal LM"),
    ("broken", "is not valid JSON"),
    ("no-tokenizer", "has no tokenizer"),
])
def test_a_model_that_cannot_be_served_gets_one_line(dirs, capsys, name, expected):
    model = str(dirs / name) if name != "missing/dir/x" else "./missing/dir/x"
    rc = cli.main([model, "--db_url", f"sqlite:///{dirs / 'serve.db'}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("kaizen serve: error: ") and expected in err and "\n" not in err, err


def test_a_real_model_directory_passes_the_check(model_dir):
    assert cli.model_problem(str(model_dir)) is None
    assert cli.model_problem("Qwen/Qwen2.5-0.5B") is None  # a hub id is checked when it loads
