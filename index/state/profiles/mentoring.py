"""Mentoring requests: asked, then accepted or declined by the mentor; accepted ones fill their capacity."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from index.state.base import StateSession, StateStore
from index.state.profiles.audit import Actor, record
from index.state.profiles.settings import batched
from index.store.documents import utc_now

STATUSES = ("pending", "accepted", "declined", "withdrawn", "ended")
OPEN = ("pending", "accepted")
# action -> (the status it applies to, the status it leaves)
TRANSITIONS = {
    "accept": ("pending", "accepted"),
    "decline": ("pending", "declined"),
    "withdraw": ("pending", "withdrawn"),
    "end": ("accepted", "ended"),
}
MAX_PENDING_PER_REQUESTER = 5  # asks waiting for an answer at once: a bound on one user's pull on others


class MentoringError(Exception):
    """A request the rules refuse (busy mentor, a second open request, a closed one); says why."""


@dataclass(frozen=True)
class MentoringRequest:
    id: int
    mentor: str  # person id
    requester: str  # user id
    requester_person: str | None
    topic: str
    message: str
    status: str
    created_at: str
    decided_at: str | None
    decided_by: str | None
    notified_at: str | None
    notify_error: str | None


_COLUMNS = (
    "id, mentor, requester, requester_person, topic, message, status, created_at, decided_at, decided_by, "
    "notified_at, notify_error"
)


def _request(r: Sequence[Any]) -> MentoringRequest:
    return MentoringRequest(int(r[0]), *r[1:])


def _lock(tx: StateSession, mentor: str) -> None:
    """Serialise transactions about one mentor (a row lock on PostgreSQL; SQLite writers take turns)."""
    tx.execute(
        "INSERT INTO mentor_locks(mentor, locked_at) VALUES (?, ?) "
        "ON CONFLICT (mentor) DO UPDATE SET locked_at = excluded.locked_at",
        (mentor, utc_now()),
    )


def _accepted(tx: StateSession, mentor: str) -> int:
    rows = tx.query(
        "SELECT COUNT(*) FROM mentoring_requests WHERE mentor = ? AND status = 'accepted'", (mentor,)
    )
    return int(rows[0][0])


class MentoringStore:
    """The `mentoring_requests` table. Whether the caller may act on a request is the service's check;
    what a request may become, and the mentor's capacity, are checked here, atomically."""

    def __init__(self, state: StateStore):
        self.state = state

    def accepted_counts(self, mentors: Iterable[str]) -> dict[str, int]:
        rows = batched(
            self.state,
            "SELECT mentor, COUNT(*) FROM mentoring_requests WHERE mentor IN ({marks}) AND status = 'accepted' "
            "GROUP BY mentor",
            mentors,
        )
        return {r[0]: int(r[1]) for r in rows}

    def get(self, request_id: int) -> MentoringRequest | None:
        rows = self.state.query(f"SELECT {_COLUMNS} FROM mentoring_requests WHERE id = ?", (request_id,))
        return _request(rows[0]) if rows else None

    def received(self, mentor: str) -> list[MentoringRequest]:
        rows = self.state.query(
            f"SELECT {_COLUMNS} FROM mentoring_requests WHERE mentor = ? ORDER BY id DESC", (mentor,)
        )
        return [_request(r) for r in rows]

    def sent(self, person_id: str | None, users: Iterable[str]) -> list[MentoringRequest]:
        """The requests a person made (recorded as them), or made under any of the user ids `users`."""
        names = sorted(set(users))
        mine = f" OR requester IN ({','.join('?' * len(names))})" if names else ""
        rows = self.state.query(
            f"SELECT {_COLUMNS} FROM mentoring_requests WHERE requester_person = ?{mine} ORDER BY id DESC",
            (person_id, *names),
        )
        return [_request(r) for r in rows]

    def create(
        self,
        mentor: str,
        requester: str,
        requester_person: str | None,
        topic: str,
        message: str,
        actor: Actor,
    ) -> MentoringRequest:
        """A pending request; refused when the requester already has one open with this mentor or too
        many waiting. Whether the mentor takes requests at all is the caller's check (it needs the
        directory)."""
        with self.state.transaction() as tx:
            _lock(tx, mentor)
            open_marks = ",".join("?" * len(OPEN))
            duplicate = tx.query(
                f"SELECT id FROM mentoring_requests WHERE mentor = ? AND requester = ? AND status IN ({open_marks})",
                (mentor, requester, *OPEN),
            )
            if duplicate:
                raise MentoringError(f"you already have an open request with {mentor} (#{duplicate[0][0]})")
            waiting = tx.query(
                "SELECT COUNT(*) FROM mentoring_requests WHERE requester = ? AND status = 'pending'",
                (requester,),
            )
            if int(waiting[0][0]) >= MAX_PENDING_PER_REQUESTER:
                raise MentoringError(
                    f"you have {MAX_PENDING_PER_REQUESTER} requests waiting for an answer; wait for one "
                    "or withdraw one first"
                )
            rows = tx.query(
                "INSERT INTO mentoring_requests(mentor, requester, requester_person, topic, message, status, "
                f"created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?) RETURNING {_COLUMNS}",
                (mentor, requester, requester_person, topic, message, utc_now()),
            )
            request = _request(rows[0])
            record(tx, actor, mentor, "mentoring", {"request": request.id, "status": [None, "pending"]})
        return request

    def decide(self, request_id: int, action: str, actor: Actor, capacity: int | None) -> MentoringRequest:
        """Apply `action` (accept, decline, withdraw, end). Accepting fails when the mentor's accepted
        requests already fill `capacity` (None: no limit); two replicas accepting at once take turns."""
        if action not in TRANSITIONS:
            raise MentoringError(f"action: expected one of {', '.join(TRANSITIONS)}")
        before, after = TRANSITIONS[action]
        current = self.get(request_id)
        if current is None:
            raise MentoringError(f"no mentoring request #{request_id}")
        with self.state.transaction() as tx:
            _lock(tx, current.mentor)
            rows = tx.query("SELECT status FROM mentoring_requests WHERE id = ?", (request_id,))
            status = rows[0][0]
            if status != before:
                raise MentoringError(
                    f"request #{request_id} is {status}; only a {before} request can {action}"
                )
            if action == "accept" and capacity is not None and _accepted(tx, current.mentor) >= capacity:
                raise MentoringError(f"{current.mentor} is at capacity ({capacity} accepted)")
            rows = tx.query(
                "UPDATE mentoring_requests SET status = ?, decided_at = ?, decided_by = ? WHERE id = ? "
                f"RETURNING {_COLUMNS}",
                (after, utc_now(), actor.user, request_id),
            )
            record(tx, actor, current.mentor, "mentoring", {"request": request_id, "status": [before, after]})
        return _request(rows[0])

    def record_notification(self, request_id: int, error: str | None) -> None:
        """The webhook's outcome for a request: delivered now, or why not."""
        self.state.execute(
            "UPDATE mentoring_requests SET notified_at = ?, notify_error = ? WHERE id = ?",
            (utc_now() if error is None else None, error, request_id),
        )
