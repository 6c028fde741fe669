"""Named, versioned models: names from the run's kaizen_model.json (or --name), several models behind
one server, and the name on every stored message and exported row."""

from __future__ import annotations

import json
import shutil

import pytest

from kaizen.cli import main as kaizen_main
from kaizen.data.jsonl import read_jsonl
from kaizen.models.identity import MODEL_CARD, ModelIdentity, identify, version_of, write_model_card
from kaizen.serve import cli
from kaizen.serve.config import ServeConfig


def test_identity_comes_from_the_run(tmp_path):
    run = tmp_path / "loop" / "round-2" / "ppo_ptx"
    (run / "model").mkdir(parents=True)
    write_model_card(run, "ppo", "runs/sft/model")
    card = json.loads((run / MODEL_CARD).read_text())
    assert (card["name"], card["version"], card["stage"], card["parent"]) == ("ppo_ptx", "round-2", "ppo", "runs/sft/model")
    assert identify(str(run / "model")) == ModelIdentity("ppo_ptx", "round-2", "ppo", "runs/sft/model")
    assert identify(str(run / "model")).id == "ppo_ptx-round-2"
    # A run from before the cards: named after its run directory, not "model".
    old = tmp_path / "sft"
    (old / "model").mkdir(parents=True)
    (old / "run_info.json").write_text(json.dumps({"stage": "sft"}))
    assert identify(str(old / "model")) == ModelIdentity("sft", None, "sft")
    assert identify("Qwen/Qwen2.5-0.5B").id == "Qwen2.5-0.5B"  # a hub id: its repository name
    # A registry version folder is a version only if it has a lineage.
    (tmp_path / "models" / "v3" / "train" / "dpo").mkdir(parents=True)
    assert version_of(tmp_path / "models" / "v3" / "train" / "dpo") is None
    (tmp_path / "models" / "v3" / "lineage.json").write_text("{}")
    assert version_of(tmp_path / "models" / "v3" / "train" / "dpo") == "v3"


def test_every_training_stage_writes_its_card(tmp_path):
    from kaizen.sft import SFTConfig
    from kaizen.training.rundir import prepare_run_dir

    prepare_run_dir(tmp_path / "sft-r1", SFTConfig(model="runs/pretrain/model"), "sft")
    card = json.loads((tmp_path / "sft-r1" / MODEL_CARD).read_text())
    assert (card["name"], card["stage"], card["parent"]) == ("sft-r1", "sft", "runs/pretrain/model")
    prepare_run_dir(tmp_path / "loop", SFTConfig(), "loop")
    assert not (tmp_path / "loop" / MODEL_CARD).exists()  # no model in that run


def test_the_card_travels_with_the_saved_model(tiny_tokenizer, tmp_path):
    from tests.conftest import make_tiny_model

    run = tmp_path / "round-1" / "dpo"
    run.mkdir(parents=True)
    write_model_card(run, "dpo", "runs/sft/model")
    make_tiny_model(tiny_tokenizer, "llama", run / "model")
    copied = tmp_path / "deploy" / "model"
    shutil.copytree(run / "model", copied)
    assert identify(str(copied)) == ModelIdentity("dpo", "round-1", "dpo", "runs/sft/model")


@pytest.fixture(scope="module")
def two_models(model_dir, tmp_path_factory):
    """Two served models from runs with cards: sft and ppo_ptx of round 1 (same tiny weights)."""
    from kaizen.serve.engine import load_engine

    root = tmp_path_factory.mktemp("runs")
    engines = []
    for run, stage in ((root / "sft", "sft"), (root / "round-1" / "ppo_ptx", "ppo")):
        shutil.copytree(model_dir, run / "model")
        write_model_card(run, stage, str(model_dir))
        engines.append(load_engine(ServeConfig(model=str(run / "model"), device="cpu", threads=1, batch_wait_ms=2)))
    yield engines
    for e in engines:
        e.close()


@pytest.fixture
def client(tmp_path, two_models, admin_headers):
    from fastapi.testclient import TestClient

    from kaizen.serve.app import create_app
    from kaizen.serve.auth import ensure_admin
    from kaizen.serve.db import Database

    cfg = ServeConfig(model="runs/sft/model", db_url=f"sqlite:///{tmp_path / 'serve.db'}")
    db = Database(cfg.db_url)
    db.migrate()
    ensure_admin(db, "admin", key=admin_headers["Authorization"].split()[1])
    with TestClient(create_app(cfg, two_models[0], db, more_engines=two_models[1:])) as c:
        c.headers.update(admin_headers)
        yield c
    db.close()


def test_one_server_serves_several_named_models(client, tmp_path):
    data = client.get("/v1/models").json()["data"]
    assert [m["id"] for m in data] == ["sft", "ppo_ptx-round-1"]
    assert data[1]["kaizen"] == {"name": "ppo_ptx", "version": "round-1", "stage": "ppo", "parent": data[1]["kaizen"]["parent"]}
    assert client.get("/api/info").json()["models"] == ["sft", "ppo_ptx-round-1"]

    r = client.post("/v1/chat/completions", json={"model": "ppo_ptx-round-1", "max_tokens": 3,
                                                  "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.json()["model"] == "ppo_ptx-round-1"
    r = client.post("/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 404 and "served: sft, ppo_ptx-round-1" in r.json()["error"]["message"]

    # The chat stores which model wrote each answer; the export carries it into every row.
    cid = client.post("/api/conversations", json={}).json()["conversation"]["id"]
    first = client.post(f"/api/conversations/{cid}/messages",
                        json={"content": "hello", "stream": False, "max_tokens": 3, "seed": 1}).json()
    other = client.post(f"/api/conversations/{cid}/regenerate",
                        json={"parent_id": first["user_message"]["id"], "stream": False, "max_tokens": 3, "seed": 2,
                              "model": "ppo_ptx-round-1"}).json()["message"]
    assert (first["message"]["model"], other["model"]) == ("sft", "ppo_ptx-round-1")
    bad = client.post(f"/api/conversations/{cid}/regenerate",
                      json={"parent_id": first["user_message"]["id"], "stream": False, "model": "nope"})
    assert bad.status_code == 404
    client.put(f"/api/messages/{other['id']}/rating", json={"value": 1})
    client.put(f"/api/messages/{first['message']['id']}/rating", json={"value": -1})

    out = tmp_path / "feedback"
    assert kaizen_main(["export", "--db_url", client.app.state.kaizen.cfg.db_url, "--out", str(out)]) == 0
    (ranking,) = [r for _, r in read_jsonl(out / "rankings.jsonl")]
    assert ranking["meta"]["models"] == ["ppo_ptx-round-1", "sft"]
    (demo,) = [r for _, r in read_jsonl(out / "demonstrations.jsonl")]
    assert demo["meta"]["models"] == ["ppo_ptx-round-1"]


def test_name_flag_and_duplicate_names(tmp_path, model_dir, capsys):
    from kaizen.serve.engine import load_engine

    engine = load_engine(ServeConfig(model=str(model_dir), name="my-model", device="cpu", threads=1))
    try:
        assert engine.model_name == "my-model" and engine.identity.name == "tiny-llama"
    finally:
        engine.close()
    rc = cli.main([str(model_dir), "--models", str(model_dir), "--db_url", f"sqlite:///{tmp_path / 'serve.db'}",
                   "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == ("kaizen serve: error: two models are both called tiny-llama: name them with "
                               "--models NAME=DIR (or --name for MODEL)")


def test_a_bad_second_model_gets_one_line(tmp_path, model_dir, capsys):
    rm = tmp_path / "rm"
    rm.mkdir()
    (rm / "config.json").write_text(json.dumps({"architectures": ["LlamaForSequenceClassification"]}))
    rc = cli.main([str(model_dir), "--models", f"rm={rm}", "--db_url", f"sqlite:///{tmp_path / 'serve.db'}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("kaizen serve: error: ") and "is a reward model" in err and "\n" not in err


def test_registry_versions_are_named_after_their_runs(tmp_path, model_dir):
    from kaizen.registry import Registry
    from kaizen.serve.registry import RegistryWatcher, resolve

    reg = Registry(tmp_path / "models")
    sft = tmp_path / "runs" / "sft"
    shutil.copytree(model_dir, sft / "model")
    write_model_card(sft, "sft", None)
    reg.register(sft / "model", None, status="promoted")
    cfg, v1 = resolve(ServeConfig(registry=str(reg.root)))
    assert cfg.served_model_name == "sft-v1"

    class Engine:  # what the watcher needs of an engine
        def __init__(self, c):
            self.model_name, self.running, self.tokenizer = c.served_model_name, 0, model_tokenizer

    model_tokenizer = type("Tok", (), {"get_vocab": lambda _self: {"x": 0}})()
    state = type("State", (), {"engine": Engine(cfg)})()
    watcher = RegistryWatcher(state, cfg, "v1", Engine, prefix=None)
    ppo = tmp_path / "runs" / "ppo_ptx"
    shutil.copytree(model_dir, ppo / "model")
    write_model_card(ppo, "ppo", str(sft / "model"))
    reg.register(ppo / "model", "v1", status="promoted")
    assert watcher.check() and state.engine.model_name == "ppo_ptx-v2"  # not sft-v2: each version its own run
    named, _ = resolve(ServeConfig(registry=str(reg.root), name="prod"))
    assert named.served_model_name == "prod-v2"


def test_a_damaged_card_falls_back_to_the_directory(tmp_path):
    run = tmp_path / "dpo"
    (run / "model").mkdir(parents=True)
    (run / MODEL_CARD).write_text("{not json")
    (run / "run_info.json").write_text("[]")
    assert identify(str(run / "model")) == ModelIdentity("dpo")
