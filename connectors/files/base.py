"""The contract between the files connector and its parsers: what a parser is given and returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from connectors.base import (
    Acl,
    PersonRef,
    Role,
    Section,
)


@dataclass(frozen=True)
class FileInfo:
    """What a parser may know about the file beside its bytes."""

    rel_path: str
    mtime: datetime

    @property
    def stem(self) -> str:
        return PurePosixPath(self.rel_path).stem


@dataclass
class ParsedFile:
    """A parser's answer; the connector adds ids, version, url, hierarchy and the default ACL."""

    title: str
    sections: list[Section]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    people: list[tuple[PersonRef, Role]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    acl: Acl | None = None  # None: the source's ACL; else narrowed to fit inside it


Parser = Callable[[bytes, FileInfo], ParsedFile]
