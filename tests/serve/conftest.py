"""Fixtures for the serving tests: a tiny random Llama with a locally trained tokenizer (no downloads),
an in-process app (Starlette's TestClient) and a real ``python -m kaizen serve`` subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import torch

from kaizen.data.chat import CHAT_SPECIAL_TOKENS

ADMIN_KEY = "kz-test-admin-key"
TEXTS = ["hello world how are you today", "the quick brown fox jumps over the lazy dog",
         "kaizen means continuous improvement", "write a short poem about the sea", "what is two plus two"]


def build_tiny_model(out: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<unk>", "<pad>", "<eos>", *CHAT_SPECIAL_TOKENS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TEXTS * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>",
                                   additional_special_tokens=list(CHAT_SPECIAL_TOKENS))
    fast.save_pretrained(out)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=128, max_position_embeddings=256, eos_token_id=fast.eos_token_id,
                      pad_token_id=fast.pad_token_id, bos_token_id=None)
    LlamaForCausalLM(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def engine(model_dir):
    from kaizen.serve.engine import TransformersEngine

    eng = TransformersEngine.load(str(model_dir), device="cpu", model_name="tiny-llama", max_batch_size=8,
                                  batch_wait_ms=2, threads=1)
    yield eng
    eng.close()


def _make_app(tmp_path, engine, **overrides):
    """An app on a fresh SQLite file with an admin (key ADMIN_KEY); returns (TestClient, db)."""
    from fastapi.testclient import TestClient

    from kaizen.serve.app import create_app
    from kaizen.serve.auth import ensure_admin
    from kaizen.serve.config import ServeConfig
    from kaizen.serve.db import Database

    filters = {k: overrides.pop(k) for k in ("request_filters", "response_filters") if k in overrides}
    cfg = ServeConfig(model="tiny-llama", db_url=f"sqlite:///{tmp_path / 'serve.db'}", **overrides)
    db = Database(cfg.db_url)
    db.migrate()
    ensure_admin(db, "admin", key=ADMIN_KEY)
    return TestClient(create_app(cfg, engine, db, **filters)), db


@pytest.fixture
def admin_headers() -> dict:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def make_app(tmp_path, engine):
    """``make_app(**config_overrides)`` -> a TestClient (not yet entered); each call gets its own DB."""
    dbs = []

    def make(**overrides):
        sub = tmp_path / f"app{len(dbs)}"
        sub.mkdir()
        client, db = _make_app(sub, engine, **overrides)
        dbs.append(db)
        return client

    yield make
    for db in dbs:
        db.close()


@pytest.fixture
def app_client(make_app, admin_headers):
    client = make_app()
    with client:
        client.headers.update(admin_headers)
        yield client


@pytest.fixture
def add_user(admin_headers):
    """``add_user(client, name, role, password=None)`` -> the new user's API key."""

    def add(client, name: str, role: str, password: str | None = None) -> str:
        body = {"name": name, "role": role} | ({"password": password} if password else {})
        r = client.post("/api/admin/users", json=body, headers=admin_headers)
        assert r.status_code == 200, r.text
        return r.json()["api_key"]

    return add


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m kaizen serve`` in a subprocess, on a free port."""

    def __init__(self, model_dir: Path, db_url: str, log: Path, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = ADMIN_KEY
        self.headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kaizen", "serve", str(model_dir), "--port", str(self.port), "--db_url", db_url,
             "--admin_key", ADMIN_KEY, "--device", "cpu", "--threads", "1", "--log_level", "warning", *args],
            stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(self.url + "/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start:\n{log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_server(model_dir):
    """``start_server(db_url, log_path, *flags)`` -> a running Server, stopped after the test."""
    servers = []

    def start(db_url: str, log: Path, *args: str) -> Server:
        servers.append(Server(model_dir, db_url, log, *args))
        return servers[-1]

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="session")
def server(model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    srv = Server(model_dir, f"sqlite:///{tmp / 'serve.db'}", tmp / "server.log", "--max_batch_size", "16",
                 "--rate_limit_per_minute", "0")
    yield srv
    srv.stop()


def _postgres_bin() -> Path | None:
    """The directory of Debian's (or any) initdb / pg_ctl, or None."""
    import shutil

    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(shutil.which("initdb")).resolve().parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster (initdb + pg_ctl in a temp dir) on a free port; yields its base URL.

    As root it runs as the ``postgres`` user (the server refuses root). Skipped, saying why, without
    the binaries (``apt-get install postgresql``; ``make test`` does it as root) or psycopg.
    """
    import shutil

    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL tests skipped: no initdb/pg_ctl (install Debian's `postgresql`; `make test` does as root)")
    pytest.importorskip("psycopg", reason="PostgreSQL tests skipped: psycopg missing (pip install 'kaizen-rlhf[postgres]')")
    import tempfile

    # Not under pytest's tmp dir: that one is private to root, and the server runs as 'postgres'.
    root = Path(tempfile.mkdtemp(prefix="kaizen-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("PostgreSQL tests skipped: running as root and there is no 'postgres' user to run the server")
        runuser = shutil.which("runuser") or shutil.which("su")
        if runuser is None:
            pytest.skip("PostgreSQL tests skipped: running as root without runuser/su to drop to 'postgres'")
        for path in (root, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
        run_as = [runuser, "-u", "postgres", "--"] if runuser.endswith("runuser") else None
        if run_as is None:
            pytest.skip("PostgreSQL tests skipped: need runuser (util-linux) to drop root")
    port = free_port()
    log = root / "postgres.log"

    def pg(*args: str) -> None:
        done = subprocess.run([*run_as, *args], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {done.stderr.strip() or done.stdout.strip()}")

    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "kaizen", "--auth=trust", "-E", "UTF8", "--no-sync")
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start", "-o",
       f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off -c max_connections=200")
    try:
        yield f"postgresql+psycopg://kaizen@/%s?host={sock}&port={port}"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server, request):
    """A fresh database on the session's PostgreSQL server, as a SQLAlchemy URL."""
    import re

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + f"_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    admin = postgres_server.replace("postgresql+psycopg", "postgresql") % "postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server % name
