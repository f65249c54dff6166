"""Text helpers shared by the file parsers: normalising, decoding, dates, names and ACLs."""

from __future__ import annotations

import codecs
import logging
import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

from connectors.base import Acl, PersonRef, to_utc

_log = logging.getLogger(__name__)

BINARY_SNIFF_BYTES = 8192


class FileParseError(Exception):
    """A file that cannot become a document; the message says why, the connector adds the file name."""


_NAME_SEPARATORS = re.compile(r"\s*[,;]\s*|\s+and\s+")
_NAME_EMAIL = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def decode_text(raw: bytes) -> str:
    """Strict UTF-8 (a BOM is dropped); binary, UTF-16 and blank files are errors."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileParseError("is UTF-16 encoded; only UTF-8 is supported")
    if b"\x00" in raw[:BINARY_SNIFF_BYTES]:
        raise FileParseError("binary content (NUL bytes), not text")
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileParseError(f"is not valid UTF-8 (byte {exc.start + bom})") from None
    if not text.strip():
        raise FileParseError("empty document")
    return text


def parse_date(value: object) -> datetime | None:
    """A UTC datetime from a YAML date, an ISO-8601 or RFC 2822 string; None for anything else."""
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        pass
    try:
        return to_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        _log.debug("not a date: %r", text)
        return None


def split_names(text: str) -> list[str]:
    """`"A, B; C and D"` -> the four names."""
    return [name for name in (n.strip() for n in _NAME_SEPARATORS.split(text)) if name]


def person_from_string(text: str) -> PersonRef | None:
    """`Name <email>` -> account=email; a bare email -> account=email; a name -> account=the name."""
    text = " ".join(text.split())
    if not text:
        return None
    match = _NAME_EMAIL.fullmatch(text)
    if match:
        return PersonRef(account=match["email"], name=match["name"] or None, email=match["email"])
    if _EMAIL.fullmatch(text):
        return PersonRef(account=text, email=text)
    return PersonRef(account=text, name=text)


def string_list(value: object, what: str) -> list[str]:
    """A list of strings from a comma-separated string or a list of scalars."""
    if value is None:
        return []
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    if isinstance(value, list | tuple) and all(v is None or isinstance(v, str | int | float) for v in value):
        return [s for s in (str(v).strip() for v in value if v is not None) if s]
    raise FileParseError(f"{what} must be a string or a list of strings, got {value!r:.80}")


def acl_from_mapping(value: object) -> Acl:
    """A document's own ACL; anything unclear is an error rather than a guess (never public by mistake)."""
    if not isinstance(value, dict):
        raise FileParseError(f"acl must be a mapping of public/users/groups, got {value!r:.80}")
    unknown = sorted(str(k) for k in value if k not in ("public", "users", "groups"))
    if unknown:
        raise FileParseError(f"acl has unknown keys {unknown} (known: public, users, groups)")
    public = value.get("public", False)
    if isinstance(public, str) and public.strip().lower() in _TRUE | _FALSE:
        public = public.strip().lower() in _TRUE
    if not isinstance(public, bool):
        raise FileParseError(f"acl public must be true or false, got {public!r:.80}")
    return Acl(
        public=public,
        users=frozenset(string_list(value.get("users"), "acl users")),
        groups=frozenset(string_list(value.get("groups"), "acl groups")),
    )
