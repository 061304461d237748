"""One strict loader for every settings file the project reads: a pydantic model with unknown keys
forbidden, and errors that name the file and the key instead of a traceback.

    class TablesFile(StrictModel):
        label: str = "label"

    spec = load_model(TablesFile, yaml.safe_load(text), "TABLES.yaml")   # ConfigError on a bad key
    feature = load_dataclass(Feature, raw, "features[0]")                # the same for a dataclass
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, with_config

M = TypeVar("M", bound=BaseModel)
D = TypeVar("D")


class ConfigError(ValueError):
    """A settings file that cannot be used as written; the message names the file and the keys."""


class StrictModel(BaseModel):
    """A settings record: unknown keys are errors, values are checked against the annotations."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe(error: ValidationError) -> str:
    """pydantic's errors as `key.path: what is wrong` lines."""
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        what = "unknown key" if e["type"] in ("extra_forbidden", "unexpected_keyword_argument") else e["msg"]
        lines.append(f"  {where}: {what}")
    return "\n".join(lines)


def load_model(cls: type[M], data: Any, source: str) -> M:
    """`data` (parsed YAML / JSON) as `cls`; ConfigError naming `source` and every bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        known = ", ".join(sorted(cls.model_fields))
        raise ConfigError(f"{source}: not a valid {cls.__name__}:\n{describe(e)}\n  (known keys: {known})") from None


def load_dataclass(cls: type[D], data: Any, source: str) -> D:
    """`data` as the dataclass `cls`, validated by pydantic against its annotations (lists become the
    tuples a field declares); ConfigError naming `source` and every unknown or ill-typed key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return TypeAdapter(with_config(ConfigDict(extra="forbid"))(cls)).validate_python(data)
    except ValidationError as e:
        known = ", ".join(sorted(f.name for f in fields(cls)))  # type: ignore[arg-type]
        raise ConfigError(f"{source}: not a valid {cls.__name__}:\n{describe(e)}\n  (known keys: {known})") from None
