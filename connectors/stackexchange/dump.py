"""Reading a Stack Exchange data dump folder (Posts, Users, Comments, Votes XML) into typed rows, safely."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from connectors.base import ConnectorError, to_utc

POSTS, USERS, COMMENTS, VOTES = "Posts.xml", "Users.xml", "Comments.xml", "Votes.xml"
QUESTION, ANSWER = "1", "2"  # PostTypeId; tag wikis (4, 5) and the like are not thread content
VOTE_ACCEPTED, VOTE_UP, VOTE_DOWN = 1, 2, 3  # VoteTypeId
_TAG_ANGLE = re.compile(r"<([^<>]+)>")

T = TypeVar("T")


class RowError(ValueError):
    """A row that lacks a required attribute or holds a value of the wrong shape."""


@dataclass(frozen=True, slots=True)
class DumpProblem:
    """Something in the dump that could not be read: a bad row (row_id) or a broken/missing file."""

    file: str
    error: str
    row_id: str | None = None
    question_id: int | None = None  # the thread the bad row belongs to, when known
    row_number: int | None = None  # 1-based position among the file's rows, for a row without Id

    def where(self) -> str:
        if self.row_id is not None:
            return f"{self.file} row Id={self.row_id}"
        return self.file if self.row_number is None else f"{self.file} row #{self.row_number} (no Id)"


@dataclass(frozen=True, slots=True)
class User:  # Users.xml: the dump's only source of display names
    id: int
    display_name: str | None
    created_at: datetime | None
    reputation: int


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    created_at: datetime
    title: str
    body_html: str
    tags: tuple[str, ...]
    owner_user_id: int | None
    owner_display_name: str | None  # set for deleted users, who have no OwnerUserId
    score: int
    accepted_answer_id: int | None
    last_activity_at: datetime | None


@dataclass(frozen=True, slots=True)
class Answer:
    id: int
    parent_id: int
    created_at: datetime
    body_html: str
    owner_user_id: int | None
    owner_display_name: str | None
    score: int
    last_activity_at: datetime | None


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    post_id: int
    created_at: datetime
    text: str
    user_id: int | None
    user_display_name: str | None
    score: int


@dataclass(frozen=True, slots=True)
class Vote:
    post_id: int
    vote_type_id: int
    created_at: datetime  # the dump keeps the day only (00:00:00)


@dataclass
class Dump:
    """A whole dump in memory, with threads indexed; `incomplete` names the files not read to their end."""

    folder: Path
    questions: dict[int, Question] = field(default_factory=dict)
    answers: dict[int, Answer] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    votes: list[Vote] = field(default_factory=list)
    problems: list[DumpProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # optional tables the folder does not have
    incomplete: set[str] = field(default_factory=set)
    has_users: bool = False
    has_comments: bool = False
    has_votes: bool = False
    answers_by_question: dict[int, list[Answer]] = field(default_factory=dict)
    comments_by_post: dict[int, list[Comment]] = field(default_factory=dict)
    votes_by_post: dict[int, list[Vote]] = field(default_factory=dict)

    def answers_to(self, question_id: int) -> list[Answer]:
        """The question's answers, oldest first."""
        return self.answers_by_question.get(question_id, [])

    def comments_on(self, post_id: int) -> list[Comment]:
        """The post's comments, oldest first."""
        return self.comments_by_post.get(post_id, [])

    def score_at(self, post_id: int, current: int, before: datetime | None) -> int:
        """The post's score from the votes cast before `before`; a vote counts only when its whole day
        (the dump keeps days) lies before the cutoff, so nothing after it leaks. Without a cutoff this is
        the dump's current Score; with one but without Votes.xml the score at the cutoff cannot be told,
        so it is 0 (the current Score holds votes cast after the cutoff)."""
        if before is None:
            return current
        if not self.has_votes:
            return 0
        score = 0
        for vote in self.votes_by_post.get(post_id, []):
            if vote.created_at + timedelta(days=1) <= before:
                score += 1 if vote.vote_type_id == VOTE_UP else -1 if vote.vote_type_id == VOTE_DOWN else 0
        return score

    def accepted_at(self, question: Question, before: datetime | None) -> int | None:
        """The accepted answer's id as known at `before` (by the day of its acceptance vote); None when
        the acceptance cannot be dated (no Votes.xml), since it may have come after the cutoff."""
        accepted = question.accepted_answer_id
        if accepted is None or before is None:
            return accepted
        answer = self.answers.get(accepted)
        if answer is None or answer.created_at >= before:
            return None
        if not self.has_votes:
            return None
        for vote in self.votes_by_post.get(accepted, []):
            if vote.vote_type_id == VOTE_ACCEPTED and vote.created_at + timedelta(days=1) <= before:
                return accepted
        return None


def read_dump(folder: Path, *, votes: bool = True) -> Dump:
    """Read a dump folder. Posts.xml is required (ConnectorError without it). The other tables are
    optional: a folder of Posts.xml alone is a whole dump whose people are known by user id (a note, not
    a problem). A bad row or a broken file becomes a DumpProblem and everything else is kept."""
    if not folder.is_dir():
        raise ConnectorError(f"{folder}: not a folder")
    if not (folder / POSTS).is_file():
        raise ConnectorError(f"{folder}: no {POSTS}; not a Stack Exchange dump folder")
    dump = Dump(folder=folder)
    _read_posts(dump)
    if (folder / USERS).is_file():
        dump.has_users = True
        _keep(dump, USERS, _user, lambda u: dump.users.__setitem__(u.id, u))
    else:
        dump.notes.append(f"no {USERS}: people are known by their user ids, names unknown")
    if (folder / COMMENTS).is_file():
        dump.has_comments = True
        _keep(dump, COMMENTS, _comment, lambda c: dump.comments.__setitem__(c.id, c))
    else:
        dump.notes.append(f"no {COMMENTS}: threads are read without their comments")
    if votes and (folder / VOTES).is_file():
        dump.has_votes = True
        _keep(dump, VOTES, _vote, dump.votes.append)
    _index(dump)
    return dump


def iter_question_ids(folder: Path) -> Iterator[int]:
    """Every question id in Posts.xml; raises ConnectorError when the file cannot be read to its end."""
    dump = Dump(folder=folder)
    if not (folder / POSTS).is_file():
        raise ConnectorError(f"{folder}: no {POSTS}")
    for _, row in _rows(dump, POSTS):
        if row.get("PostTypeId") == QUESTION and (row.get("Id") or "").strip().isdigit():
            yield int(row["Id"])
    if dump.incomplete:
        raise ConnectorError(f"{folder / POSTS}: {dump.problems[-1].error}; the listing is incomplete")


def parse_tags(value: str | None) -> tuple[str, ...]:
    """Both tag forms: the classic `<a><b>` and the newer `|a|b|`."""
    if not value:
        return ()
    if "<" in value:
        return tuple(t.strip() for t in _TAG_ANGLE.findall(value) if t.strip())
    return tuple(t.strip() for t in value.split("|") if t.strip())


def parse_dump_date(value: str) -> datetime:
    """Dump dates are naive UTC (`2016-08-02T15:39:14.947`)."""
    return to_utc(datetime.fromisoformat(value))


# --- rows --------------------------------------------------------------------------------------------


def _rows(dump: Dump, file: str) -> Iterator[tuple[int, dict[str, str]]]:
    """The `<row>` attributes of one file with their position, streamed; a broken or hostile file stops
    with a problem. Rows before the break are all given (the pull parser queues them before the error)."""
    path = dump.folder / file
    root = None
    n = 0
    try:
        for event, elem in iterparse(str(path), events=("start", "end")):
            if event == "start":
                if root is None:
                    root = elem
                continue
            if elem.tag == "row":
                n += 1
                yield n, dict(elem.attrib)
                if root is not None:
                    root.clear()  # keep memory flat on big dumps
    except DefusedXmlException as exc:
        _broken(dump, file, f"refused: the file declares XML entities or a DTD ({type(exc).__name__})")
    except ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        _broken(
            dump, file, f"not well-formed XML at line {line}, column {col} ({exc.msg}); rows before it kept"
        )
    except OSError as exc:
        _broken(dump, file, f"cannot read: {exc.strerror or exc}")


def _broken(dump: Dump, file: str, error: str) -> None:
    dump.incomplete.add(file)
    dump.problems.append(DumpProblem(file, error))


def _keep(dump: Dump, file: str, build: Callable[[dict[str, str]], T], add: Callable[[T], None]) -> None:
    for n, row in _rows(dump, file):
        try:
            add(build(row))
        except RowError as exc:
            dump.problems.append(DumpProblem(file, str(exc), row_id=row.get("Id"), row_number=n))


def _read_posts(dump: Dump) -> None:
    for n, row in _rows(dump, POSTS):
        kind = row.get("PostTypeId")
        try:
            if kind == QUESTION:
                question = _question(row)
                dump.questions[question.id] = question
            elif kind == ANSWER:
                answer = _answer(row)
                dump.answers[answer.id] = answer
            elif kind is None:
                raise RowError("no PostTypeId")
        except RowError as exc:
            parent = row.get("ParentId", "") if kind == ANSWER else row.get("Id", "")
            qid = int(parent) if parent.strip().isdigit() else None
            dump.problems.append(DumpProblem(POSTS, str(exc), row.get("Id"), question_id=qid, row_number=n))


def _index(dump: Dump) -> None:
    bad_questions = {
        p.question_id for p in dump.problems if p.file == POSTS and p.row_id == str(p.question_id)
    }
    for answer in sorted(dump.answers.values(), key=lambda a: (a.created_at, a.id)):
        if answer.parent_id in dump.questions:
            dump.answers_by_question.setdefault(answer.parent_id, []).append(answer)
        elif answer.parent_id not in bad_questions:
            dump.problems.append(
                DumpProblem(POSTS, f"answer to unknown question {answer.parent_id}", row_id=str(answer.id))
            )
    for comment in sorted(dump.comments.values(), key=lambda c: (c.created_at, c.id)):
        # comments on tag wikis and other non-thread posts are not thread content
        dump.comments_by_post.setdefault(comment.post_id, []).append(comment)
    for vote in dump.votes:
        dump.votes_by_post.setdefault(vote.post_id, []).append(vote)


def _question(row: dict[str, str]) -> Question:
    title = (row.get("Title") or "").strip()
    if not title:
        raise RowError("question without Title")
    return Question(
        id=_int(row, "Id"),
        created_at=_date(row, "CreationDate"),
        title=title,
        body_html=row.get("Body") or "",
        tags=parse_tags(row.get("Tags")),
        owner_user_id=_opt_int(row, "OwnerUserId"),
        owner_display_name=row.get("OwnerDisplayName") or None,
        score=_opt_int(row, "Score") or 0,
        accepted_answer_id=_opt_int(row, "AcceptedAnswerId"),
        last_activity_at=_opt_date(row, "LastActivityDate"),
    )


def _answer(row: dict[str, str]) -> Answer:
    return Answer(
        id=_int(row, "Id"),
        parent_id=_int(row, "ParentId"),
        created_at=_date(row, "CreationDate"),
        body_html=row.get("Body") or "",
        owner_user_id=_opt_int(row, "OwnerUserId"),
        owner_display_name=row.get("OwnerDisplayName") or None,
        score=_opt_int(row, "Score") or 0,
        last_activity_at=_opt_date(row, "LastActivityDate"),
    )


def _comment(row: dict[str, str]) -> Comment:
    text = (row.get("Text") or "").strip()
    if not text:
        raise RowError("comment without Text")
    return Comment(
        id=_int(row, "Id"),
        post_id=_int(row, "PostId"),
        created_at=_date(row, "CreationDate"),
        text=text,
        user_id=_opt_int(row, "UserId"),
        user_display_name=row.get("UserDisplayName") or None,
        score=_opt_int(row, "Score") or 0,
    )


def _user(row: dict[str, str]) -> User:
    return User(
        id=_int(row, "Id"),
        display_name=(row.get("DisplayName") or "").strip() or None,
        created_at=_opt_date(row, "CreationDate"),
        reputation=_opt_int(row, "Reputation") or 0,
    )


def _vote(row: dict[str, str]) -> Vote:
    return Vote(_int(row, "PostId"), _int(row, "VoteTypeId"), _date(row, "CreationDate"))


def _int(row: dict[str, str], key: str) -> int:
    value = (row.get(key) or "").strip()
    if not value:
        raise RowError(f"no {key}")
    try:
        return int(value)
    except ValueError:
        raise RowError(f"{key} is not a number: {value[:40]!r}") from None


def _date(row: dict[str, str], key: str) -> datetime:
    value = (row.get(key) or "").strip()
    if not value:
        raise RowError(f"no {key}")
    try:
        return parse_dump_date(value)
    except ValueError:
        raise RowError(f"{key} is not a date: {value[:40]!r}") from None


def _opt_int(row: dict[str, str], key: str) -> int | None:
    return _int(row, key) if (row.get(key) or "").strip() else None


def _opt_date(row: dict[str, str], key: str) -> datetime | None:
    return _date(row, key) if (row.get(key) or "").strip() else None
