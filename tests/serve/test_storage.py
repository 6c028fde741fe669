"""Storage and accounts: migrations match the models, SQLite durability settings, users from the CLI."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from kaizen.cli import main as kaizen_main
from kaizen.config import parse_config
from kaizen.serve.auth import ensure_admin, hash_key, hash_password, verify_password
from kaizen.serve.config import ServeConfig
from kaizen.serve.db import ApiKey, Base, Database, User


def test_migrations_create_exactly_the_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    db.migrate()
    db.migrate()  # idempotent: every start runs it
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"
    db.close()


def test_migrations_on_postgresql(postgres_url):
    db = Database(postgres_url)
    db.migrate()
    db.migrate()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"
    ensure_admin(db, "admin", key="kz-fixed")
    with db.session() as s:
        assert s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key("kz-fixed"))) is not None
    db.close()


def test_first_start_creates_one_admin(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    db.migrate()
    key = ensure_admin(db, "admin")
    assert key.startswith("kz-") and ensure_admin(db, "admin") is None
    assert ensure_admin(db, "admin", key="kz-fixed") is None  # a configured key is added to the admin
    with db.session() as s:
        assert [u.role for u in s.scalars(select(User))] == ["admin"]
        assert s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key("kz-fixed"))) is not None
        assert s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).prefix == key[:8]
    db.close()


def test_add_user_cli(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert kaizen_main(["serve", "--add-user", "lab1", "--role", "labeler", "--password", "pw123456", "--db_url", url]) == 0
    key = capsys.readouterr().out.strip().split()[-1]
    assert kaizen_main(["serve", "--add-user", "lab1", "--db_url", url]) == 2
    assert "already exists" in capsys.readouterr().err
    db = Database(url)
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == "lab1"))
        assert user.role == "labeler" and verify_password("pw123456", user.password_hash)
        assert s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).user_id == user.id
    db.close()
    assert kaizen_main(["serve", "--db_url", url]) == 2  # no model to serve
    assert "model" in capsys.readouterr().err


def test_passwords_are_salted_scrypt():
    a, b = hash_password("secret"), hash_password("secret")
    assert a != b and a.startswith("scrypt$") and verify_password("secret", a) and not verify_password("Secret", a)
    assert not verify_password("secret", None) and not verify_password("secret", "garbage")


def test_config_parses_positional_model():
    cfg = parse_config(ServeConfig, ["runs/sft", "--port", "9001", "--engine", "vllm"], prog="kaizen serve",
                       positionals=["model"])
    assert (cfg.model, cfg.port, cfg.engine, cfg.db_url) == ("runs/sft", 9001, "vllm", "sqlite:///kaizen-serve.db")
