"""One source per setting: command-line flags derived from a typed config dataclass, plus `--config YAML`.

A config field declares its default and help once::

    @dataclass
    class TrainConfig:
        epochs: int = setting(1, "passes over the training split")

`add_config_flags(parser, TrainConfig)` turns every field into a flag (`--epochs`; booleans get
`--x / --no-x`; tuples, lists and dicts take a YAML value); `config_from_args(TrainConfig, args)`
builds the config from the dataclass defaults, then the `--config` file, then the flags given
(later wins). A YAML file holds the fields at its top level or under a section named for the
app (`train:`, `compare:`, ...); unknown keys are errors that list the known ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

C = TypeVar("C")
MISSING = dataclasses.MISSING


def setting(
    default: Any = MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    choices: tuple | None = None,
    cli: bool = True,
    repeat: bool = False,
    parse: Callable[[Any], Any] | None = None,
) -> Any:
    """A config field with its help text.

    flag: the flag's name if not --field-name; choices: allowed values; cli=False keeps it out of
    the flags (tests, internal); repeat: the flag may be given many times (a list of strings);
    parse: turns what the flag or the file gave into the field's value.
    """
    meta = {"help": help, "flag": flag, "choices": choices, "cli": cli, "repeat": repeat, "parse": parse}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(kw_only=True)
class RayJobSettings:
    """The settings every Ray Train job shares (train, pretrain-image, finetune-text): one declaration,
    so their flags, defaults and help read the same in every app."""

    num_workers: int = setting(1, "Ray Train workers (DDP)")
    use_gpu: bool = setting(False, "one GPU per worker")
    max_failures: int = setting(1, "worker failures a run survives (it resumes from its last checkpoint)")


def _flag_name(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _base_type(annotation: Any) -> Any:
    """`int | None` -> int; other unions and generics -> their origin (dict, tuple, list)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else str
    return origin or annotation


def _yaml_value(text: str) -> Any:
    return yaml.safe_load(text)


def add_config_flags(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of `cls` (except `skip` and fields with cli=False); defaults stay in the dataclass."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata.get("cli", True):
            continue
        kind = _base_type(hints[f.name])
        default = (
            f.default
            if f.default is not MISSING
            else (f.default_factory() if f.default_factory is not MISSING else MISSING)
        )
        shown = "required" if default is MISSING else f"default: {default!r}"
        text = (
            f.metadata.get("help", "")
            if "default" in f.metadata.get("help", "")
            else f"{f.metadata.get('help', '')} ({shown})".strip()
        )
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": text}
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        if f.metadata.get("repeat"):
            kwargs.update(action="append", metavar="VALUE")
        elif kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind in (int, float, str):
            kwargs["type"] = kind
        else:  # tuple / list / dict: a YAML value, e.g. --dnn-hidden "[256, 128]"
            kwargs["type"] = _yaml_value
            kwargs["metavar"] = "YAML"
        parser.add_argument(_flag_name(f), **kwargs)


def add_config_file_flag(parser: argparse.ArgumentParser, section: str) -> None:
    parser.add_argument(
        "--config",
        default=None,
        metavar="YAML",
        help=f"settings file: the flags' names (with underscores) at the top level or under `{section}:`; flags given win",
    )


def app_parser(description: str, cls: type, section: str) -> argparse.ArgumentParser:
    """An app's parser: one flag per field of `cls`, `--config` (section `section`) and `--address`."""
    parser = argparse.ArgumentParser(description=description)
    add_config_flags(parser, cls)
    add_config_file_flag(parser, section)
    add_address_flag(parser)
    return parser


def add_address_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS, else a local Ray)")


def read_section(path: str | Path, section: str, cls: type, shared_with: tuple[type, ...] = ()) -> dict[str, Any]:
    """The `section` mapping of a YAML file (or its top level), checked against the fields of `cls`
    and of `shared_with` (other configs the same section feeds); -> the values for `cls`."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    if isinstance(data.get(section), dict):
        data = data[section]
    own = {f.name for f in dataclasses.fields(cls)}
    known = own.union(*({f.name for f in dataclasses.fields(c)} for c in shared_with))
    unknown = sorted(set(data) - known)
    if unknown:
        raise SystemExit(f"{path}: unknown {section} settings {unknown}; known: {sorted(known)}")
    return {k: v for k, v in data.items() if k in own}


def config_from_args(
    cls: type[C], args: argparse.Namespace, section: str, shared_with: tuple[type, ...] = (), **fixed: Any
) -> C:
    """Dataclass defaults < the `--config` file's `section` < flags given < `fixed` (set by the caller).

    `shared_with`: other config classes whose fields the same section may hold (not errors here)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        values.update(read_section(args.config, section, cls, shared_with))
    values.update({k: v for k, v in vars(args).items() if k in names})
    values.update(fixed)
    missing = [
        _flag_name(f)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise SystemExit(f"missing required settings: {', '.join(missing)} (as flags or in --config)")
    hints = typing.get_type_hints(cls)
    parsers = {f.name: f.metadata.get("parse") for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name, value in values.items():
        parse = parsers[name]
        if parse is not None:
            values[name] = parse(value)
        elif _base_type(hints[name]) is tuple and isinstance(value, list):
            values[name] = tuple(value)
    return cls(**values)
