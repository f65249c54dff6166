"""The `people` directory: who is behind the accounts, from a SCIM-like JSON file or a CSV. Yields people
(`connectors.base.DirectoryPerson`), not documents; the store links every source's accounts with them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.base import ConnectorError, ConnectorFailure, DirectoryPerson, SourceDocument
from connectors.config import ConfigError, SourceConfig, SourceContext, parse_options, resolve_source_path
from connectors.people.options import PeopleOptions

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CSV_COLUMNS = (
    "id, display_name, emails, team, title, timezone, manager, active, mentor_opt_in, mentor_capacity, "
    "accounts, groups"
)
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}


class RecordError(ValueError):
    """A directory record that lacks a required field or holds one of the wrong type."""


class PeopleDirectory:
    """A people directory: a DirectorySource (see connectors/base.py). `people()` is `directory_entries()`.
    It also satisfies the Connector protocol, with no documents to load or prune."""

    def __init__(self, name: str, path: Path, options: PeopleOptions | None = None) -> None:
        self.name = name
        self.path = path
        self.options = options or PeopleOptions()

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> PeopleDirectory:
        where = f"source {config.name!r}"
        if config.path is None or config.url is not None:
            raise ConfigError(f"{where}: give 'path' (a JSON or CSV people file), not 'url'")
        options = parse_options(config, PeopleOptions)
        path = resolve_source_path(config, context, kind="file")
        return cls(config.name, path, options)

    # The Connector protocol: a directory holds no documents, and has nothing to prune.
    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        return iter(())

    def list_ids(self) -> Iterator[str]:
        return iter(())

    @property
    def cursor(self) -> str | None:
        return None

    def directory_entries(self) -> Iterator[DirectoryPerson | ConnectorFailure]:
        return self.people()

    def people(self) -> Iterator[DirectoryPerson | ConnectorFailure]:
        text = self._read()
        csv_mode = self.options.format == "csv" or (
            self.options.format is None and self.path.suffix.lower() == ".csv"
        )
        records = _csv_records(text, self.path.name) if csv_mode else _json_records(text, self.path.name)
        first_seen: dict[str, int] = {}
        owners: dict[tuple[str, str], str] = {}
        for n, record in records:
            where = f"{self.path.name} record #{n}"
            try:
                person = csv_person(record) if csv_mode else scim_person(record)
            except RecordError as exc:
                yield self._failure(f"{where}: {exc}")
                continue
            if person.person_id in first_seen:
                yield self._failure(
                    f"{where}: duplicate id {person.person_id!r} (first at record #{first_seen[person.person_id]})"
                )
                continue
            first_seen[person.person_id] = n
            kept = []
            for account in person.accounts:
                owner = owners.setdefault(account, person.person_id)
                if owner == person.person_id:
                    kept.append(account)
                else:  # one account, two people: the first claim stands
                    yield self._failure(
                        f"{where}: account {account[1]!r} on {account[0]!r} is {owner!r}'s already"
                    )
            if len(kept) != len(person.accounts):
                person = person.model_copy(update={"accounts": tuple(kept)})
            yield person

    def _read(self) -> str:
        try:
            if self.path.stat().st_size > self.options.max_file_mb * 1024 * 1024:
                raise ConnectorError(f"{self.path}: over max_file_mb ({self.options.max_file_mb:g} MB)")
            raw = self.path.read_bytes()
        except OSError as exc:
            raise ConnectorError(
                f"{self.path}: cannot read the people directory: {exc.strerror or exc}"
            ) from exc
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConnectorError(f"{self.path}: not UTF-8 (byte {exc.start})") from None

    def _failure(self, error: str) -> ConnectorFailure:
        return ConnectorFailure(source=self.name, error=error, path=str(self.path))


def _json_records(text: str, name: str) -> list[tuple[int, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConnectorError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    records = data.get("Resources") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise ConnectorError(
            f"{name}: expected a SCIM ListResponse ({{'Resources': [...]}}) or a list of people"
        )
    return list(enumerate(records, 1))


def _csv_records(text: str, name: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = {c.strip() for c in reader.fieldnames or ()}
    missing = [c for c in ("id", "display_name") if c not in columns]
    if missing:
        raise ConnectorError(f"{name}: missing CSV column(s) {', '.join(missing)} (columns: {CSV_COLUMNS})")
    try:
        rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except csv.Error as exc:
        raise ConnectorError(f"{name}: broken CSV at line {reader.line_num}: {exc}") from None
    return list(enumerate(rows, 1))


def scim_person(record: Any) -> DirectoryPerson:
    """One SCIM User with the enterprise extension and WhoKnows' own `whoknows` block."""
    if not isinstance(record, dict):
        raise RecordError(f"a person is a JSON object, got {type(record).__name__}")
    person_id = _text(record.get("id"), "id")
    names = record.get("name")
    names = names if isinstance(names, dict) else {}
    display = record.get("displayName") or names.get("formatted")
    if not display and (names.get("givenName") or names.get("familyName")):
        display = " ".join(str(names[k]) for k in ("givenName", "familyName") if names.get(k))
    display = _text(display, "displayName")
    enterprise = _object(record.get(ENTERPRISE), ENTERPRISE)
    extra = _object(record.get("whoknows"), "whoknows")
    mentor = _object(extra.get("mentor"), "whoknows.mentor")
    emails = record.get("emails") or []
    if not isinstance(emails, list):
        raise RecordError("'emails' must be a list")
    ordered = sorted(
        (e for e in emails if isinstance(e, dict | str)),
        key=lambda e: not (isinstance(e, dict) and e.get("primary")),
    )
    addresses = [(e.get("value") if isinstance(e, dict) else e) for e in ordered]
    addresses = [a.strip() for a in addresses if isinstance(a, str) and a.strip()]
    manager = extra.get("manager") or enterprise.get("manager")
    if isinstance(manager, dict):
        manager = manager.get("value")
    accounts: list[tuple[str, str]] = []
    raw_accounts = _object(extra.get("accounts"), "whoknows.accounts")
    for source, value in raw_accounts.items():
        for account in value if isinstance(value, list) else [value]:
            if not isinstance(account, str | int) or isinstance(account, bool) or not str(account).strip():
                raise RecordError(
                    f"whoknows.accounts.{source}: an account is a non-empty string or a list of them"
                )
            accounts.append((str(source), str(account).strip()))
    groups = _strings(extra.get("groups"), "whoknows.groups")
    for group in record.get("groups") or []:  # SCIM's own, read-only membership list
        label = group.get("display") or group.get("value") if isinstance(group, dict) else None
        if isinstance(label, str) and label and label not in groups:
            groups.append(label)
    return _person(
        person_id=person_id,
        name=display,
        emails=tuple(addresses),
        team=_optional(extra.get("team") or enterprise.get("department"), "team"),
        title=_optional(record.get("title"), "title"),
        timezone=_optional(record.get("timezone") or extra.get("timezone"), "timezone"),
        manager=_optional(manager, "manager"),
        active=_bool(record.get("active"), "active", default=True),
        mentor_opt_in=_bool(mentor.get("opt_in"), "whoknows.mentor.opt_in", default=False),
        mentor_capacity=_capacity(mentor.get("capacity")),
        accounts=tuple(sorted(set(accounts))),
        groups=tuple(groups),
    )


def csv_person(row: dict[str, Any]) -> DirectoryPerson:
    """One CSV row: `;` separates emails, groups and accounts (`wiki=AnaAlvarez;forum=17`)."""
    accounts: list[tuple[str, str]] = []
    for part in _split(row.get("accounts")):
        source, sep, account = part.partition("=")
        if not sep or not source.strip() or not account.strip():
            raise RecordError(f"accounts: {part!r} is not 'source=account'")
        accounts.append((source.strip(), account.strip()))
    return _person(
        person_id=_text(row.get("id"), "id"),
        name=_text(row.get("display_name"), "display_name"),
        emails=tuple(_split(row.get("emails"))),
        team=_optional(row.get("team"), "team"),
        title=_optional(row.get("title"), "title"),
        timezone=_optional(row.get("timezone"), "timezone"),
        manager=_optional(row.get("manager"), "manager"),
        active=_bool(row.get("active"), "active", default=True),
        mentor_opt_in=_bool(row.get("mentor_opt_in"), "mentor_opt_in", default=False),
        mentor_capacity=_capacity(row.get("mentor_capacity")),
        accounts=tuple(sorted(set(accounts))),
        groups=tuple(_split(row.get("groups"))),
    )


def _person(**fields: Any) -> DirectoryPerson:
    try:
        return DirectoryPerson(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RecordError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def _text(value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"missing {field!r}")
    return value.strip()


def _optional(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise RecordError(f"{field!r} must be text, got {type(value).__name__}")
    return str(value).strip() or None


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"{field!r} must be an object")
    return value


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{field!r} must be a list of strings")
    return [v.strip() for v in value if v.strip()]


def _bool(value: Any, field: str, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RecordError(f"{field!r} must be true or false, got {value!r}")


def _capacity(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else -1
    except ValueError:
        number = -1
    if number < 0:
        raise RecordError(f"mentor capacity must be a whole number of 0 or more, got {value!r}")
    return number


def _split(value: Any) -> list[str]:
    return [part.strip() for part in str(value or "").split(";") if part.strip()]
