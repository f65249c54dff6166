"""The people directory (type = "people"): a SCIM-like JSON file or a CSV; yields people, not documents."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.base import ConnectorError, ConnectorFailure, DirectoryPerson, SourceDocument
from connectors.config import ConfigError, SourceConfig, SourceContext

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_TRUE = {"1", "true", "yes", "y"}


class PeopleDirectory:
    """A directory source. The pipeline applies `directory_entries()` to the people table."""

    def __init__(self, name: str, path: Path):
        self.name = name
        self.path = path

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> PeopleDirectory:
        if config.path is None or not config.path.is_file():
            raise ConfigError(f"source {config.name!r}: field 'path' must name a JSON or CSV directory file")
        return cls(config.name, config.path)

    # The Connector protocol: a directory holds no documents.
    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        return iter(())

    def list_ids(self) -> Iterator[str]:
        return iter(())

    @property
    def cursor(self) -> str | None:
        return None

    def directory_entries(self) -> Iterator[DirectoryPerson | ConnectorFailure]:
        """Every person in the file; a bad record is a failure naming the file and record, others go on."""
        try:
            raw = self.path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConnectorError(f"{self.path}: cannot read the people directory: {exc}") from exc
        records = self._csv(raw) if self.path.suffix.lower() == ".csv" else self._json(raw)
        seen: set[str] = set()
        for i, record in enumerate(records):
            where = f"{self.path.name} record {i}"
            try:
                person = record_to_person(record)
            except (KeyError, TypeError, ValueError) as exc:
                yield ConnectorFailure(source=self.name, path=self.path.name, error=f"{where}: {exc}")
                continue
            if person.person_id in seen:
                yield ConnectorFailure(
                    source=self.name, path=self.path.name, error=f"{where}: duplicate id {person.person_id!r}"
                )
                continue
            seen.add(person.person_id)
            yield person

    def _json(self, raw: str) -> list[dict[str, Any]]:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConnectorError(f"{self.path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        records = data.get("Resources") if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise ConnectorError(f"{self.path}: expected a list of people or {{'Resources': [...]}}")
        return [r if isinstance(r, dict) else {"_invalid": r} for r in records]

    def _csv(self, raw: str) -> list[dict[str, Any]]:
        out = []
        for row in csv.DictReader(io.StringIO(raw)):
            accounts = {}
            for part in (row.get("accounts") or "").split(";"):
                source, sep, account = part.partition("=")
                if sep and source.strip() and account.strip():
                    accounts[source.strip()] = account.strip()
            emails = [e.strip() for e in (row.get("emails") or "").split(";") if e.strip()]
            out.append(
                {
                    "id": row.get("id"),
                    "displayName": row.get("display_name"),
                    "emails": [{"value": e} for e in emails],
                    "title": row.get("title") or None,
                    "timezone": row.get("timezone") or None,
                    "active": (row.get("active") or "true").strip().lower() in _TRUE,
                    "whoknows": {
                        "team": row.get("team") or None,
                        "manager": row.get("manager") or None,
                        "accounts": accounts,
                        "groups": [g.strip() for g in (row.get("groups") or "").split(";") if g.strip()],
                        "mentor": {
                            "opt_in": (row.get("mentor_opt_in") or "").strip().lower() in _TRUE,
                            "capacity": int(row["mentor_capacity"]) if row.get("mentor_capacity") else None,
                        },
                    },
                }
            )
        return out


def record_to_person(record: dict[str, Any]) -> DirectoryPerson:
    """Map one SCIM-like record; raises KeyError/TypeError/ValueError naming what is missing or wrong."""
    person_id = record.get("id") or record.get("userName")
    name = record.get("displayName") or (record.get("name") or {}).get("formatted")
    if not isinstance(person_id, str) or not person_id.strip():
        raise ValueError("missing 'id'")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"person {person_id!r}: missing 'displayName'")
    extra = record.get("whoknows") or {}
    enterprise = record.get(ENTERPRISE) or {}
    mentor = extra.get("mentor") or {}
    emails = tuple(
        str(e["value"]).strip()
        for e in sorted(
            record.get("emails") or [], key=lambda e: not (isinstance(e, dict) and e.get("primary"))
        )
        if isinstance(e, dict) and e.get("value")
    )
    accounts: list[tuple[str, str]] = []
    for source, value in sorted((extra.get("accounts") or {}).items()):
        for account in value if isinstance(value, list) else [value]:
            accounts.append((str(source), str(account)))
    manager = extra.get("manager") or (enterprise.get("manager") or {}).get("value")
    capacity = mentor.get("capacity")
    return DirectoryPerson(
        person_id=person_id.strip(),
        name=name.strip(),
        emails=emails,
        team=extra.get("team") or enterprise.get("department"),
        title=record.get("title"),
        timezone=record.get("timezone"),
        manager=manager,
        active=bool(record.get("active", True)),
        mentor_opt_in=bool(mentor.get("opt_in", False)),
        mentor_capacity=int(capacity) if capacity is not None else None,
        accounts=tuple(accounts),
        groups=tuple(str(g) for g in extra.get("groups") or ()),
    )
