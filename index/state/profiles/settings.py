"""A person's own settings, their corrections of their topics, and the experts an admin names."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from index.state.base import Rows, StateSession, StateStore
from index.state.profiles.audit import Actor, record
from index.store.documents import utc_now

BATCH = 500  # ids per IN (...) list
TOPIC_STATUSES = ("confirmed", "hidden", "added")
NAMED_KINDS = ("topic", "source")
MAX_CAPACITY = 100  # mentees at once: beyond this, capacity means nothing


class ProfileError(ValueError):
    """A change that cannot be stored; the message names the field."""


@dataclass(frozen=True)
class PersonSettings:
    """What a person chose. None: they did not choose, the default holds (listed; the directory's
    mentoring; the topics their work shows)."""

    person_id: str
    listed: bool | None = None  # suggested in expert results
    mentor_opt_in: bool | None = None
    mentor_capacity: int | None = None
    ask_me_about: tuple[str, ...] | None = None
    do_not_ask: tuple[str, ...] = ()
    updated_at: str | None = None
    updated_by: str | None = None

    @property
    def is_listed(self) -> bool:
        return self.listed is not False

    def choices(self) -> dict[str, Any]:
        """The chosen values, JSON-ready (lists for topic tuples)."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items() if k in SETTINGS_FIELDS}


SETTINGS_FIELDS = ("listed", "mentor_opt_in", "mentor_capacity", "ask_me_about", "do_not_ask")


@dataclass(frozen=True)
class TopicCorrection:
    person_id: str
    topic: str  # as the person wrote it
    topic_key: str  # its terms (index/experts/corrections.py), what matching compares
    status: str  # confirmed | hidden | added
    updated_at: str
    updated_by: str


@dataclass(frozen=True)
class NamedExpert:
    kind: str  # topic | source
    value: str
    value_key: str  # a topic's terms, or the source's name
    person_id: str
    named_at: str
    named_by: str


def batched(state: StateStore, sql: str, ids: Iterable[str], params: Sequence[Any] = ()) -> Rows:
    """`sql` with `{marks}` run over `ids` in batches (the IN list), then `params`."""
    wanted = sorted(set(ids))
    rows: Rows = []
    for start in range(0, len(wanted), BATCH):
        batch = wanted[start : start + BATCH]
        rows += state.query(sql.format(marks=",".join("?" * len(batch))), (*batch, *params))
    return rows


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


_SETTINGS_COLUMNS = (
    "person_id, listed, mentor_opt_in, mentor_capacity, ask_me_about, do_not_ask, updated_at, updated_by"
)


def _settings(r: Sequence[Any]) -> PersonSettings:
    return PersonSettings(
        person_id=r[0],
        listed=_bool(r[1]),
        mentor_opt_in=_bool(r[2]),
        mentor_capacity=None if r[3] is None else int(r[3]),
        ask_me_about=None if r[4] is None else tuple(json.loads(r[4])),
        do_not_ask=tuple(json.loads(r[5])),
        updated_at=r[6],
        updated_by=r[7],
    )


def _checked(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise ProfileError(f"{unknown[0]}: not a setting (one of {', '.join(SETTINGS_FIELDS)})")
    out = dict(changes)
    for name in ("listed", "mentor_opt_in"):
        if name in out and out[name] is not None and not isinstance(out[name], bool):
            raise ProfileError(f"{name}: expected true, false or null")
    capacity = out.get("mentor_capacity")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or not 0 <= capacity <= MAX_CAPACITY
    ):
        raise ProfileError(f"mentor_capacity: expected a whole number from 0 to {MAX_CAPACITY}, or null")
    for name in ("ask_me_about", "do_not_ask"):
        if name in out:
            value = out[name]
            if value is None and name == "do_not_ask":
                value = ()
            if value is not None:
                if isinstance(value, str) or not all(isinstance(t, str) and t.strip() for t in value):
                    raise ProfileError(f"{name}: expected a list of topics")
                unique: dict[str, str] = {}
                for t in value:  # the first spelling of a topic counts, whatever its case
                    unique.setdefault(" ".join(t.split()).casefold(), " ".join(t.split()))
                value = tuple(unique.values())
            out[name] = value
    return out


class ProfileStore:
    """The `person_settings`, `topic_corrections` and `named_experts` tables; every change is audited
    in its own transaction."""

    def __init__(self, state: StateStore):
        self.state = state

    # --- settings ---------------------------------------------------------------------------------

    def settings_of(self, person_ids: Iterable[str]) -> dict[str, PersonSettings]:
        rows = batched(
            self.state,
            f"SELECT {_SETTINGS_COLUMNS} FROM person_settings WHERE person_id IN ({{marks}})",
            person_ids,
        )
        return {r[0]: _settings(r) for r in rows}

    def settings(self, person_id: str) -> PersonSettings:
        return self.settings_of([person_id]).get(person_id) or PersonSettings(person_id)

    def update_settings(self, person_id: str, changes: Mapping[str, Any], actor: Actor) -> PersonSettings:
        """Set the fields in `changes` (None: back to the default); the others stay as they were."""
        wanted = _checked(changes)
        with self.state.transaction() as tx:
            rows = tx.query(
                f"SELECT {_SETTINGS_COLUMNS} FROM person_settings WHERE person_id = ?", (person_id,)
            )
            before = _settings(rows[0]) if rows else PersonSettings(person_id)
            after = replace(before, **wanted, updated_at=utc_now(), updated_by=actor.user)
            changed = {
                k: [before.choices()[k], after.choices()[k]]
                for k in wanted
                if before.choices()[k] != after.choices()[k]
            }
            _upsert_settings(tx, after)
            record(tx, actor, person_id, "settings", {"changed": changed})
        return after

    # --- topics -----------------------------------------------------------------------------------

    def topics_of(self, person_ids: Iterable[str]) -> dict[str, list[TopicCorrection]]:
        rows = batched(
            self.state,
            "SELECT person_id, topic, topic_key, status, updated_at, updated_by FROM topic_corrections "
            "WHERE person_id IN ({marks}) ORDER BY person_id, topic_key",
            person_ids,
        )
        out: dict[str, list[TopicCorrection]] = {}
        for r in rows:
            out.setdefault(r[0], []).append(TopicCorrection(*r))
        return out

    def set_topic(
        self, person_id: str, topic: str, topic_key: str, status: str | None, actor: Actor
    ) -> TopicCorrection | None:
        """Confirm, hide or add `topic` on a profile (None: take the correction back)."""
        if status is not None and status not in TOPIC_STATUSES:
            raise ProfileError(f"status: expected one of {', '.join(TOPIC_STATUSES)}, or none")
        topic = topic.strip()
        if not topic or not topic_key:
            raise ProfileError("topic: expected a topic with at least one word")
        with self.state.transaction() as tx:
            before = tx.query(
                "SELECT status FROM topic_corrections WHERE person_id = ? AND topic_key = ?",
                (person_id, topic_key),
            )
            tx.execute(
                "DELETE FROM topic_corrections WHERE person_id = ? AND topic_key = ?", (person_id, topic_key)
            )
            out = None
            if status is not None:
                out = TopicCorrection(person_id, topic, topic_key, status, utc_now(), actor.user)
                tx.execute(
                    "INSERT INTO topic_corrections(person_id, topic, topic_key, status, updated_at, updated_by) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (person_id, topic, topic_key, status, out.updated_at, out.updated_by),
                )
            was = before[0][0] if before else None
            record(tx, actor, person_id, "topic", {"topic": topic, "status": [was, status]})
        return out

    # --- named experts ----------------------------------------------------------------------------

    def named_experts(self) -> list[NamedExpert]:
        rows = self.state.query(
            "SELECT kind, value, value_key, person_id, named_at, named_by FROM named_experts "
            "ORDER BY kind, value_key, person_id"
        )
        return [NamedExpert(*r) for r in rows]

    def name_expert(self, kind: str, value: str, value_key: str, person_id: str, actor: Actor) -> NamedExpert:
        if kind not in NAMED_KINDS:
            raise ProfileError(f"kind: expected one of {', '.join(NAMED_KINDS)}")
        if not value.strip() or not value_key:
            raise ProfileError("value: expected a topic with at least one word, or a source name")
        named = NamedExpert(kind, value.strip(), value_key, person_id, utc_now(), actor.user)
        with self.state.transaction() as tx:
            tx.execute(
                "INSERT INTO named_experts(kind, value, value_key, person_id, named_at, named_by) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, value_key, person_id) DO UPDATE SET "
                "value = excluded.value, named_at = excluded.named_at, named_by = excluded.named_by",
                (kind, named.value, value_key, person_id, named.named_at, named.named_by),
            )
            record(tx, actor, person_id, "named_expert", {"kind": kind, "value": named.value, "named": True})
        return named

    def unname_expert(self, kind: str, value_key: str, person_id: str, actor: Actor) -> bool:
        with self.state.transaction() as tx:
            gone = tx.query(
                "DELETE FROM named_experts WHERE kind = ? AND value_key = ? AND person_id = ? RETURNING value",
                (kind, value_key, person_id),
            )
            if gone:
                record(
                    tx, actor, person_id, "named_expert", {"kind": kind, "value": gone[0][0], "named": False}
                )
        return bool(gone)


def _upsert_settings(tx: StateSession, s: PersonSettings) -> None:
    tx.execute(
        f"INSERT INTO person_settings({_SETTINGS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (person_id) DO UPDATE SET listed = excluded.listed, "
        "mentor_opt_in = excluded.mentor_opt_in, mentor_capacity = excluded.mentor_capacity, "
        "ask_me_about = excluded.ask_me_about, do_not_ask = excluded.do_not_ask, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (
            s.person_id,
            None if s.listed is None else int(s.listed),
            None if s.mentor_opt_in is None else int(s.mentor_opt_in),
            s.mentor_capacity,
            None if s.ask_me_about is None else json.dumps(list(s.ask_me_about)),
            json.dumps(list(s.do_not_ask)),
            s.updated_at,
            s.updated_by,
        ),
    )
