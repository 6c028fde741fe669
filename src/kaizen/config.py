"""Typed stage configs: one dataclass per stage, loaded from YAML and overridden on the CLI.

    @dataclass
    class SFTConfig:
        lr: float = arg(1e-4, "Peak learning rate.")

    cfg = parse_config(SFTConfig, ["--config", "sft.yaml", "--lr", "3e-4"])

Every field maps 1:1 to a YAML key and a ``--flag`` (underscores or dashes); the ``help`` of
``arg`` becomes ``--help``. A nested dataclass field ``sft: SFTConfig`` maps to a YAML section
and to ``--sft.lr``. Unknown or mistyped keys are errors that name the key (and the closest
valid one), in the YAML file and on the command line alike. Configs are frozen after parsing:
no stage mutates its config at run time.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message names the key."""


def arg(default: Any = dataclasses.MISSING, help: str = "", **kwargs: Any) -> Any:
    """A dataclass field with ``help`` text; mutable defaults are copied per instance."""
    metadata = {"help": help}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=metadata, **kwargs)
    if dataclasses.is_dataclass(default) and isinstance(default, type):
        return dataclasses.field(default_factory=default, metadata=metadata, **kwargs)
    if dataclasses.is_dataclass(default):  # a (frozen) instance: a section with non-default values
        return dataclasses.field(default_factory=lambda d=default: d, metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML or CLI value to the field's declared type, or raise naming the key."""
    inner, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ConfigError(f"config key '{key}': null is not allowed (expected {_type_name(tp)})")
    origin = get_origin(inner)
    try:
        if inner is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if inner is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if inner is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if inner is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
        if origin is Literal:
            choices = get_args(inner)
            if value not in choices:
                raise ConfigError(f"config key '{key}': {value!r} is not one of {list(choices)}")
            return value
        if origin in (list, tuple):
            (item_tp, *_) = get_args(inner) or (str,)
            if isinstance(value, str):
                value = [v for v in value.split(",") if v != ""]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        if origin is dict or inner is dict:
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
        if inner is Any:
            return value
    except ConfigError:
        raise
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{key}': {value!r} is not a valid {_type_name(tp)}") from None
    raise ConfigError(f"config key '{key}': unsupported field type {_type_name(tp)}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _unknown_key_error(key: str, valid: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"unknown config key '{key}' in {where}{hint} (valid keys: {', '.join(sorted(valid))})")


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config", prefix: str = "", base: Any = None) -> T:
    """Build ``cls`` from a (possibly nested) dict, rejecting keys the dataclass does not declare.

    Keys absent from ``data`` keep ``base``'s values (a nested section's own defaults) or the class defaults.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: section '{prefix or '<top>'}' must be a mapping, got {type(data).__name__}")
    hints = _field_types(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key not in fields:
            raise _unknown_key_error(prefix + key, [prefix + k for k in fields], where)
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            nested_base = getattr(base, key) if base is not None else _field_default(fields[key])
            kwargs[key] = from_dict(tp, value or {}, where, prefix=f"{prefix}{key}.", base=nested_base)
        else:
            kwargs[key] = _coerce(value, tp, prefix + key)
    try:
        return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise ConfigError(f"{where}: {e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data view of a config (nested dataclasses become nested dicts)."""
    return dataclasses.asdict(cfg)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config keys")
    return data


def _flat_fields(cls: type, prefix: str = "") -> list[tuple[str, Any, dataclasses.Field]]:
    out = []
    hints = _field_types(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.extend(_flat_fields(tp, prefix + f.name + "."))
        else:
            out.append((prefix + f.name, tp, f))
    return out


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


def build_parser(cls: type, prog: str, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description or (cls.__doc__ or "").strip(),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--config", metavar="YAML", help="YAML file of config keys; flags override it")
    for name, tp, f in _flat_fields(cls):
        inner, _ = _unwrap_optional(tp)
        default = _field_default(f)
        help_text = f.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %
        if get_origin(inner) is Literal:
            help_text += f" One of {list(get_args(inner))}."
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        if inner is bool:
            parser.add_argument(*flags, dest=name, nargs="?", const="true", default=argparse.SUPPRESS,
                                metavar="BOOL", help=f"{help_text} (default: {default})")
            parser.add_argument(f"--no-{name.replace('_', '-')}", dest=name, action="store_const", const="false",
                                default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        elif get_origin(inner) in (list, tuple):
            parser.add_argument(*flags, dest=name, nargs="*", default=argparse.SUPPRESS,
                                help=f"{help_text} (default: {default})")
        else:
            parser.add_argument(*flags, dest=name, default=argparse.SUPPRESS, metavar=_type_name(inner).upper(),
                                help=f"{help_text} (default: {default})")
    return parser


def parse_config(cls: type[T], argv: list[str] | None, prog: str = "kaizen",
                 positionals: list[str] | None = None) -> T:
    """Parse ``--config YAML`` plus flag overrides into a frozen ``cls`` instance.

    ``positionals`` names fields that may also be given positionally (``kaizen serve MODEL_DIR``).
    """
    parser = build_parser(cls, prog)
    for name in positionals or []:
        parser.add_argument(f"_pos_{name}", nargs="?", default=None, metavar=name.upper())
    try:
        ns, unknown = parser.parse_known_args(argv)
    except SystemExit:
        raise
    if unknown:
        valid = ["--" + n for n, _, _ in _flat_fields(cls)]
        bad = next(u for u in unknown if u.startswith("-")) if any(u.startswith("-") for u in unknown) else unknown[0]
        raise _unknown_key_error(bad.split("=")[0], valid, "command line")
    data: dict[str, Any] = load_yaml(ns.config) if ns.config else {}
    where = str(ns.config) if ns.config else "command line"
    if ns.config:  # validate the file's keys before flags are merged, so errors name the file
        from_dict(cls, _merge({}, data), where)
    for name in positionals or []:
        value = getattr(ns, f"_pos_{name}")
        if value is not None:
            _set_dotted(data, name, value)
    for name, _, _ in _flat_fields(cls):
        if name in vars(ns):
            _set_dotted(data, name, vars(ns)[name])
    return from_dict(cls, data, where)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def dump_yaml(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True))
