"""The sources config file (TOML): one `[[sources]]` table per source, validated with clear errors."""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from connectors.base import Acl

OptionsModel = TypeVar("OptionsModel", bound=BaseModel)


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and the line or field."""


class SourceConfig(BaseModel):
    """One `[[sources]]` entry. Type-specific settings stay in `options` for the connector to validate."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)
    type: str
    path: Path | None = None
    url: str | None = None
    acl: Acl = Field(default_factory=Acl)
    # Pruning guard: a listing that returns fewer than this share of the documents held is suspicious.
    prune_min_ratio: float = Field(default=0.5, ge=0.0, le=1.0)

    @property
    def options(self) -> dict[str, Any]:
        """Settings beyond the common ones, as written in the file."""
        return dict(self.model_extra or {})


class SourceContext(BaseModel):
    """What a connector factory gets beside its config: where relative paths start, and secrets."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    base_dir: Path
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_s: float = 30.0


def read_sources_config(path: Path, known_types: Collection[str]) -> list[SourceConfig]:
    """Read and validate a sources file; relative paths are resolved against the file's folder.

    `known_types` are the connector types a `type` may name (`connectors.registry.load_sources_config`
    passes the registered ones)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no [[sources]] tables found")
    configs: list[SourceConfig] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: sources[{i}]"
        if isinstance(entry, dict) and "name" in entry:
            where += f" ({entry['name']!r})"
        try:
            config = SourceConfig.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "entry"
            raise ConfigError(f"{where}: field '{field}': {first['msg']}") from exc
        if config.type not in known_types:
            known = ", ".join(sorted(known_types))
            raise ConfigError(f"{where}: field 'type': unknown type {config.type!r} (known: {known})")
        if config.name in seen:
            raise ConfigError(f"{where}: field 'name': duplicate source name {config.name!r}")
        seen.add(config.name)
        if config.path is not None:
            resolved = config.path if config.path.is_absolute() else (path.parent / config.path)
            if not resolved.exists():
                raise ConfigError(f"{where}: field 'path': {resolved} does not exist")
            config = config.model_copy(update={"path": resolved.resolve()})
        configs.append(config)
    return configs


def parse_options(
    config: SourceConfig,
    model: type[OptionsModel],
    *,
    label: Literal["field", "option"] = "field",
    list_known: bool = False,
) -> OptionsModel:
    """A source's `options` validated with the connector's model. The first problem is a ConfigError
    "source 'x': <label> '<name>': <why>", with the known option names after it when `list_known`."""
    try:
        return model.model_validate(config.options)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "options"
        known = f" (options: {', '.join(model.model_fields)})" if list_known else ""
        raise ConfigError(f"source {config.name!r}: {label} '{name}': {first['msg']}{known}") from exc


def resolve_source_path(
    config: SourceConfig,
    context: SourceContext,
    *,
    missing: str = "required",
    must_exist: bool = False,
    kind: Literal["folder", "file"] | None = None,
) -> Path:
    """A source's `path`, relative ones against `context.base_dir`, checked in this order: given (else
    `missing` is the reason), existing when `must_exist`, of `kind` when given. Not made canonical."""
    where = f"source {config.name!r}: field 'path'"
    if config.path is None:
        raise ConfigError(f"{where}: {missing}")
    path = config.path if config.path.is_absolute() else context.base_dir / config.path
    if must_exist and not path.exists():
        raise ConfigError(f"{where}: {path} does not exist")
    if kind == "folder" and not path.is_dir():
        raise ConfigError(f"{where}: {path} is not a folder")
    if kind == "file" and not path.is_file():
        raise ConfigError(f"{where}: {path} is not a file")
    return path
