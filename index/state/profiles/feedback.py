"""Votes on expert suggestions: a signed-in user marks a person helpful or not for a question."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from index.state.base import StateStore
from index.state.profiles.audit import Actor, record
from index.store.documents import utc_now


@dataclass(frozen=True)
class Vote:
    voter: str  # the voter's person id, or their user id when they are nobody's person
    query: str  # the question as asked last
    query_key: str  # its terms (index/experts/corrections.py): questions with the same terms share votes
    person_id: str
    vote: int  # +1 helpful, -1 not helpful
    voted_at: str


_COLUMNS = "voter, query, query_key, person_id, vote, voted_at"


class FeedbackStore:
    """The `expert_feedback` table: one vote per voter, question and person (a new vote replaces the old)."""

    def __init__(self, state: StateStore):
        self.state = state

    def vote(
        self, voter: str, query: str, query_key: str, person_id: str, helpful: bool | None, actor: Actor
    ) -> Vote | None:
        """Record (or, with `helpful` None, withdraw) `voter`'s vote on `person_id` for the question."""
        with self.state.transaction() as tx:
            tx.execute(
                "DELETE FROM expert_feedback WHERE voter = ? AND query_key = ? AND person_id = ?",
                (voter, query_key, person_id),
            )
            out = None
            if helpful is not None:
                out = Vote(voter, query, query_key, person_id, 1 if helpful else -1, utc_now())
                tx.execute(
                    f"INSERT INTO expert_feedback({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (out.voter, out.query, out.query_key, out.person_id, out.vote, out.voted_at),
                )
            record(tx, actor, person_id, "feedback", {"query": query, "helpful": helpful})
        return out

    def for_query(self, query_key: str) -> dict[str, list[int]]:
        """person id -> the votes on them for this question (one per voter)."""
        out: dict[str, list[int]] = defaultdict(list)
        for person_id, vote in self.state.query(
            "SELECT person_id, vote FROM expert_feedback WHERE query_key = ? ORDER BY person_id, voter",
            (query_key,),
        ):
            out[person_id].append(int(vote))
        return dict(out)

    def given_by(self, voter: str) -> list[Vote]:
        rows = self.state.query(
            f"SELECT {_COLUMNS} FROM expert_feedback WHERE voter = ? ORDER BY voted_at DESC, query_key, person_id",
            (voter,),
        )
        return [Vote(r[0], r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]

    def received(self, person_id: str) -> dict[str, int]:
        """How often people found `person_id` helpful or not, without who or for which question."""
        rows = self.state.query(
            "SELECT vote, COUNT(*) FROM expert_feedback WHERE person_id = ? GROUP BY vote", (person_id,)
        )
        counts = {int(v): int(n) for v, n in rows}
        return {"helpful": counts.get(1, 0), "not_helpful": counts.get(-1, 0)}
