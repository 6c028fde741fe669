"""``kaizen serve --registry models``: serve the promoted version and follow new promotions live.

    kaizen serve --registry models            # serves the newest promoted vN; polls lineage.json files

A watcher thread polls the registry every ``--registry_poll_s`` seconds. When a newer version is
promoted it loads that model into a new engine beside the running one, then swaps the server's
engine in one assignment. Requests already streaming keep the engine they started on (each holds
its own generator on it), so no stream in flight is dropped or mixed; the old engine is closed
once it has no running or queued row. A version whose tokenizer differs from the served one is
not swapped in (a request tokenized just before the swap would reach a model that reads its ids
differently): the log says to restart the server for it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from kaizen.registry import Registry

log = logging.getLogger("kaizen.serve")


def model_name(prefix: str | None, version) -> str:
    """The API's model id for a version: ``<--name>-v2``, else ``<its run's name>-v2`` (``ppo-v2``, from the
    model's kaizen_model.json), else ``kaizen-v2``."""
    from kaizen.models.identity import identify

    if prefix is None:
        run = identify(str(version.model_path))
        prefix = run.name if run.stage is not None else "kaizen"  # a name from a run, not a bare directory's
    return f"{prefix}-{version.name}"


def resolve(cfg):
    """(``cfg`` serving the registry's promoted version under its versioned name, that version)."""
    from kaizen.config import ConfigError

    v = Registry(cfg.registry).promoted()
    if v is None:
        raise ConfigError(f"config key 'registry': {cfg.registry} has no promoted version "
                          "(kaizen registry add DIR MODEL --promote registers the first)")
    prefix = cfg.name or cfg.served_model_name  # --name names the series; each version gets its own id
    return replace(cfg, model=str(v.model_path), served_model_name=model_name(prefix, v), name=None), v


def _idle(engine) -> bool:
    return getattr(engine, "running", 0) == 0 and not getattr(engine, "_pending", None)


class RegistryWatcher:
    """Follows the registry's promoted version and hot-swaps ``state.engine`` (see the module docstring)."""

    def __init__(self, state, cfg, version: str, load_engine, poll_s: float = 5.0, drain_timeout_s: float = 600.0,
                 prefix: str | None = None):
        self.state, self.cfg, self.version, self.prefix = state, cfg, version, prefix
        self.registry = Registry(cfg.registry)
        self.load_engine, self.poll_s, self.drain_timeout_s = load_engine, poll_s, drain_timeout_s
        self.swaps: list[dict] = []
        self.refused: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kaizen-registry", daemon=True)

    def start(self) -> RegistryWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception as e:  # a broken candidate must never take the running server down
                log.error("registry: could not switch versions: %s", e)

    def check(self) -> bool:
        """Swap to a newer promoted version if there is one; returns whether it swapped."""
        v = self.registry.promoted()
        if v is None or v.name == self.version or v.name in self.refused:
            return False
        current = self.registry.get(self.version) if self.version else None
        if current is not None and v.number < current.number:
            return False  # an older version re-promoted by hand: switching back needs a restart
        new = self.load_engine(replace(self.cfg, model=str(v.model_path),
                                       served_model_name=model_name(self.prefix, v)))
        old = self.state.engine
        if new.tokenizer.get_vocab() != old.tokenizer.get_vocab():
            log.error("registry: %s has another tokenizer than %s; restart kaizen serve to serve it", v.name, self.version)
            self.refused.add(v.name)
            getattr(new, "close", lambda: None)()
            return False
        self.state.engine = new  # one assignment: a request reads either the old engine or the new
        log.warning("registry: now serving %s (%s), was %s", v.name, new.model_name, self.version)
        self.swaps.append({"from": self.version, "to": v.name, "at": time.time()})
        self.version = v.name
        threading.Thread(target=self._drain, args=(old,), name="kaizen-drain", daemon=True).start()
        return True

    def _drain(self, engine) -> None:
        deadline = time.monotonic() + self.drain_timeout_s
        time.sleep(1.0)  # a request that read the old engine just before the swap reaches its queue
        while not _idle(engine) and time.monotonic() < deadline:
            time.sleep(0.2)
        getattr(engine, "close", lambda: None)()


def attach(app, cfg, version, load_engine=None) -> RegistryWatcher:
    """Start following ``cfg.registry`` (as ``resolve`` returned it) for the app built by ``create_app``."""
    if load_engine is None:
        from kaizen.serve.engine import load_engine
    # resolve named it <prefix>-<version>; a prefix from the run's card is found again for each new version
    prefix = None if cfg.served_model_name == model_name(None, version) else cfg.served_model_name[: -len(version.name) - 1]
    watcher = RegistryWatcher(app.state.kaizen, cfg, version.name, load_engine, cfg.registry_poll_s,
                              prefix=prefix).start()
    app.state.registry_watcher = watcher
    return watcher
