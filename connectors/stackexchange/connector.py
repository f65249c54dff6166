"""The `stackexchange` connector: a Stack Exchange data dump folder, one forum document per question thread."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from connectors._shared.cursors import parse_cursor_leniently
from connectors._shared.html_text import html_to_text
from connectors.base import (
    Acl,
    ConnectorFailure,
    Contribution,
    DocId,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
    to_utc,
)
from connectors.config import SourceConfig, SourceContext, parse_options, resolve_source_path
from connectors.stackexchange.dump import Comment, Dump, DumpProblem, Question, iter_question_ids, read_dump
from connectors.stackexchange.options import StackExchangeOptions

_log = logging.getLogger(__name__)

COMMUNITY_USER_ID = -1  # the site's bot account ("Community"): owns wikis and bumps, it is nobody's expertise


class StackExchangeConnector:
    """Question threads of one dump; ids are `<source>:<question Id>`, the cursor an ISO UTC time."""

    def __init__(self, name: str, folder: Path, options: StackExchangeOptions, acl: Acl) -> None:
        self.name = name
        self._folder = folder
        self._options = options
        self._acl = acl
        self._cursor: str | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> StackExchangeConnector:
        folder = resolve_source_path(
            config, context, missing="required for type 'stackexchange' (the dump folder)", kind="folder"
        )
        options = parse_options(config, StackExchangeOptions)
        return cls(config.name, folder, options, config.acl)

    @property
    def cursor(self) -> str | None:
        return self._cursor

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        """Threads with any activity (post, edit, comment, vote) after `since`. The cursor only moves
        when the whole dump was read without a problem, so a thread a broken file hid is fetched again."""
        since_at = parse_cursor_leniently(since, _log)
        dump = read_dump(self._folder)
        for note in dump.notes:
            _log.info("source %s: %s", self.name, note)
        for problem in dump.problems:
            yield problem_failure(self.name, dump.folder, problem)
        latest: datetime | None = None
        for question in sorted(dump.questions.values(), key=lambda q: q.id):
            activity = thread_activity(dump, question)
            latest = activity if latest is None or activity > latest else latest
            if since_at is not None and activity <= since_at and not _voted_since(dump, question, since_at):
                continue
            yield thread_document(dump, question, self.name, self._acl, url_base=self._options.url_base)
        if dump.problems:
            _log.warning("source %s: %d problems in the dump; cursor kept", self.name, len(dump.problems))
            self._cursor = since
        else:
            self._cursor = latest.isoformat() if latest is not None else since

    def list_ids(self) -> Iterator[DocId]:
        for question_id in iter_question_ids(self._folder):
            yield f"{self.name}:{question_id}"


def thread_documents(
    dump: Dump,
    source: str,
    acl: Acl,
    *,
    before: datetime | None = None,
    question_ids: Iterable[int] | None = None,
    url_base: str | None = None,
) -> Iterator[SourceDocument]:
    """Documents for the dump's threads (or those in `question_ids`), in question id order. With `before`,
    the state of the site at that time: questions asked before it, answers and comments written before it,
    scores and acceptance from the votes cast before it (see `Dump.score_at`). Bodies are the dump's last
    revision (PostHistory is not read), so an edit made after the cutoff still shows."""
    cutoff = to_utc(before) if before is not None else None
    wanted = set(question_ids) if question_ids is not None else None
    for question in sorted(dump.questions.values(), key=lambda q: q.id):
        if wanted is not None and question.id not in wanted:
            continue
        if cutoff is not None and question.created_at >= cutoff:
            continue
        yield thread_document(dump, question, source, acl, before=cutoff, url_base=url_base)


def thread_document(
    dump: Dump,
    question: Question,
    source: str,
    acl: Acl,
    *,
    before: datetime | None = None,
    url_base: str | None = None,
) -> SourceDocument:
    """One question thread: the question, then each answer oldest first, each post's comments after it."""
    answers = [a for a in dump.answers_to(question.id) if before is None or a.created_at < before]
    accepted_id = dump.accepted_at(question, before)
    sections: list[Section] = []
    people: list[Contribution] = []
    scores: list[tuple[int, int]] = []

    q_text = html_to_text(question.body_html)
    q_heading = (f"Question by {_label(dump, question.owner_user_id, question.owner_display_name)}",)
    if q_text:
        sections.append(Section(text=q_text, heading=q_heading))
    asker = _person(dump, question.owner_user_id, question.owner_display_name)
    if asker is not None:
        own = f"{question.title}\n\n{q_text}".strip()
        people.append(
            Contribution(person=asker, role=Role.ASKER, at=question.created_at, weight=1.0, text=own)
        )
    scores.append((question.id, dump.score_at(question.id, question.score, before)))
    _add_comments(dump, question.id, q_heading, before, sections, people, scores)

    for answer in answers:
        accepted = answer.id == accepted_id
        score = dump.score_at(answer.id, answer.score, before)
        scores.append((answer.id, score))
        label = _label(dump, answer.owner_user_id, answer.owner_display_name)
        heading = (f"{'Accepted answer' if accepted else 'Answer'} by {label}",)
        text = html_to_text(answer.body_html)
        if text:
            sections.append(Section(text=text, heading=heading))
        person = _person(dump, answer.owner_user_id, answer.owner_display_name)
        if person is not None:
            at = answer.created_at
            people.append(
                Contribution(person=person, role=Role.ANSWERER, at=at, weight=score, text=text or None)
            )
            if accepted:
                # the text is on the ANSWERER contribution already; the profile model reads it once
                people.append(Contribution(person=person, role=Role.ACCEPTED_ANSWERER, at=at, weight=score))
        _add_comments(dump, answer.id, heading, before, sections, people, scores)

    dates = [question.created_at] + [a.created_at for a in answers]
    dates += [c.at for c in people if c.role is Role.COMMENTER and c.at is not None]
    if before is None:
        dates.append(thread_activity(dump, question))
    version_payload = {
        "title": question.title,
        "tags": question.tags,
        "sections": [[list(s.heading), s.text] for s in sections],
        "scores": scores,
        "accepted": accepted_id,
        "people": [[c.role.value, c.person.account, c.person.name, c.weight] for c in people],
    }
    return SourceDocument(
        doc_id=f"{source}:{question.id}",
        source=source,
        kind="forum",
        title=question.title,
        url=f"{url_base.rstrip('/')}/questions/{question.id}" if url_base else None,
        sections=sections,
        created_at=question.created_at,
        updated_at=max(dates),
        version=content_version(json.dumps(version_payload, sort_keys=True).encode()),
        acl=acl,
        contributions=people,
        tags=list(question.tags),
    )


def thread_activity(dump: Dump, question: Question) -> datetime:
    """The thread's latest exact timestamp: posts, edits (LastActivityDate), answers and comments."""
    dates = [question.created_at]
    if question.last_activity_at is not None:
        dates.append(question.last_activity_at)
    for answer in dump.answers_to(question.id):
        dates.append(answer.last_activity_at or answer.created_at)
        dates.extend(c.created_at for c in dump.comments_on(answer.id))
    dates.extend(c.created_at for c in dump.comments_on(question.id))
    return max(dates)


def problem_failure(source: str, folder: Path, problem: DumpProblem) -> ConnectorFailure:
    """A dump problem as the run records it: the file, the row and, when known, the thread."""
    where = problem.where()
    doc_id = f"{source}:{problem.question_id}" if problem.question_id is not None else None
    return ConnectorFailure(
        source=source, error=f"{where}: {problem.error}", doc_id=doc_id, path=str(folder / problem.file)
    )


def _add_comments(
    dump: Dump,
    post_id: int,
    heading: tuple[str, ...],
    before: datetime | None,
    sections: list[Section],
    people: list[Contribution],
    scores: list[tuple[int, int]],
) -> None:
    comments: list[Comment] = [
        c for c in dump.comments_on(post_id) if before is None or c.created_at < before
    ]
    if not comments:
        return
    lines = [f"{_label(dump, c.user_id, c.user_display_name)}: {c.text}" for c in comments]
    sections.append(Section(text="\n".join(lines), heading=(*heading, "Comments")))
    for comment in comments:
        scores.append((comment.id, comment.score))
        person = _person(dump, comment.user_id, comment.user_display_name)
        if person is not None:
            people.append(
                Contribution(person=person, role=Role.COMMENTER, at=comment.created_at, text=comment.text)
            )


def _person(dump: Dump, user_id: int | None, display_name: str | None) -> PersonRef | None:
    """Accounts are user ids; a deleted user (no id, only a display name) is `name:<display name>`."""
    if user_id is not None:
        if user_id == COMMUNITY_USER_ID:
            return None
        user = dump.users.get(user_id)
        name = user.display_name if user is not None else display_name
        return PersonRef(account=str(user_id), name=name)
    if display_name:
        return PersonRef(account=f"name:{display_name}", name=display_name)
    return None


def _label(dump: Dump, user_id: int | None, display_name: str | None) -> str:
    if user_id is not None:
        user = dump.users.get(user_id)
        if user is not None and user.display_name:
            return user.display_name
        return display_name or f"user {user_id}"
    return display_name or "an anonymous user"


def _voted_since(dump: Dump, question: Question, since: datetime) -> bool:
    """Votes carry only their day: one cast on the cursor's day may still be newer than the cursor."""
    day = since.replace(hour=0, minute=0, second=0, microsecond=0)
    post_ids = [question.id, *(a.id for a in dump.answers_to(question.id))]
    return any(v.created_at >= day for pid in post_ids for v in dump.votes_by_post.get(pid, []))
