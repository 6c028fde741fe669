"""Heavy libraries imported at first use, so that building a stage's ``--help`` from its config
dataclass (and anything else that only reads configs) does not spend seconds importing torch.

    torch = lazy_import("torch")              # reads like `import torch`; it runs at the first torch.X
    F = lazy_import("torch.nn.functional")

    @no_grad                                  # torch.no_grad() as a decorator, without importing torch here
    def score(model, batch): ...

Modules that a stage module imports at its top (``losses``, ``training``, ``models``, the stage
modules themselves) use these instead of ``import torch`` / ``from transformers import ...``;
``tests/test_cli.py`` checks that ``kaizen STAGE --help`` imports none of the heavy libraries.
The proxy is not placed in ``sys.modules``: the real module is imported, the normal way, the
first time an attribute is read, and every later read goes to it.
"""

from __future__ import annotations

import functools
import importlib
import types
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _LazyModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:  # called only for names the proxy itself lacks
        return getattr(importlib.import_module(self.__name__), attr)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self.__name__))

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def lazy_import(name: str) -> Any:
    """A stand-in for module ``name`` that imports it when one of its attributes is first read."""
    return _LazyModule(name)


def no_grad(fn: F) -> F:
    """``@torch.no_grad()`` for functions defined at import time, importing torch only when called."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
