"""Discourse posts and topics as both modes read them: a post from its JSON, a topic as one document."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bs4 import BeautifulSoup

from connectors._shared.html_text import html_to_text
from connectors.base import (
    Acl,
    Contribution,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
    to_utc,
)
from connectors.discourse.options import DiscourseOptions

REGULAR_POST = 1  # post_type: 2 moderator action, 3 small action ("closed the topic"), 4 whisper (staff only)
# what a post quotes from others: [quote="user, post:3"]...[/quote] blocks and "> " lines
_QUOTE = re.compile(r"\[quote(?:=[^\]]*)?\].*?\[/quote\]\s*|^[ \t]*>[^\n]*\n?", re.S | re.I | re.M)


class PostError(ValueError):
    """A post object that lacks a required field or holds one of the wrong type."""


@dataclass(frozen=True, slots=True)
class Post:
    """One post as both modes read it; `text` is the whole post, `own_text` without quoted posts."""

    topic_id: int
    post_number: int
    username: str
    id: int | None = None
    name: str | None = None
    user_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    text: str = ""
    own_text: str = ""
    likes: int = 0
    accepted: bool = False
    version: int = 1
    visible: bool = True  # False: whisper, small action, hidden or deleted; never indexed
    topic_title: str | None = None
    topic_slug: str | None = None
    category_id: int | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    title: str
    slug: str | None
    category_id: int | None
    tags: tuple[str, ...] = ()


def parse_post(obj: Any, topic_id: int | None = None) -> Post:
    """A post from its JSON object (`/posts/{id}.json`, an archive file, or a topic's post_stream)."""
    if not isinstance(obj, dict):
        raise PostError(f"a post is a JSON object, got {type(obj).__name__}")
    tid = obj.get("topic_id", topic_id)
    number, username = obj.get("post_number"), obj.get("username")
    missing = [
        k for k, v in (("topic_id", tid), ("post_number", number), ("username", username)) if v in (None, "")
    ]
    if missing:
        raise PostError(f"missing {', '.join(missing)}")
    if not isinstance(tid, int) or not isinstance(number, int) or not isinstance(username, str):
        raise PostError("topic_id and post_number must be numbers, username a string")
    raw, cooked = obj.get("raw"), obj.get("cooked")
    if isinstance(raw, str) and raw.strip():
        text, own = raw.strip(), _QUOTE.sub("", raw).strip()
    elif isinstance(cooked, str) and cooked.strip():
        text, own = html_to_text(cooked), _cooked_own_text(cooked)
    else:
        text = own = ""
    visible = (
        obj.get("post_type", REGULAR_POST) == REGULAR_POST
        and not obj.get("hidden")
        and not obj.get("deleted_at")
        and not obj.get("user_deleted")
    )
    return Post(
        topic_id=tid,
        post_number=number,
        username=username,
        id=_int_or_none(obj.get("id")),
        name=(obj.get("name") or None) if isinstance(obj.get("name"), str) else None,
        user_id=_int_or_none(obj.get("user_id")),
        created_at=parse_date(obj.get("created_at")),
        updated_at=parse_date(obj.get("updated_at")),
        text=text,
        own_text=own,
        likes=_likes(obj),
        accepted=obj.get("accepted_answer") is True,
        version=_int_or_none(obj.get("version")) or 1,
        visible=visible,
        topic_title=obj.get("topic_title") if isinstance(obj.get("topic_title"), str) else None,
        topic_slug=obj.get("topic_slug") if isinstance(obj.get("topic_slug"), str) else None,
        category_id=_int_or_none(obj.get("category_id")),
    )


def topic_document(
    source: str, topic: Topic, posts: Iterable[Post], acl: Acl, options: DiscourseOptions
) -> SourceDocument | None:
    """A topic as one forum document, its visible posts in order; None when none is visible."""
    kept = sorted((p for p in posts if p.visible), key=lambda p: (p.post_number, p.id or 0))
    if not kept:
        return None
    sections = [Section(text=p.text, heading=(f"{p.username} #{p.post_number}",)) for p in kept if p.text]
    people: list[Contribution] = []
    for i, post in enumerate(kept):
        if post.user_id is not None and post.user_id < 0:
            continue  # Discourse's own accounts (system, discobot) are nobody's expertise
        person = PersonRef(account=post.username, name=post.name)
        weight = float(max(1, post.likes))
        text = post.own_text or None
        role = Role.AUTHOR if i == 0 else Role.ANSWERER  # the first post the forum still has opens the topic
        people.append(Contribution(person=person, role=role, at=post.created_at, weight=weight, text=text))
        if post.accepted:
            people.append(
                Contribution(person=person, role=Role.ACCEPTED_ANSWERER, at=post.created_at, weight=weight)
            )
    label = (
        options.categories.get(topic.category_id, f"category {topic.category_id}")
        if topic.category_id
        else None
    )
    dates = [d for p in kept for d in (p.created_at, p.updated_at) if d is not None]
    url_base = options.url_base.rstrip("/") if options.url_base else None
    payload = [
        topic.title,
        label,
        topic.tags,
        [[p.id, p.post_number, iso_or_empty(p.updated_at), p.version, p.likes, p.accepted] for p in kept],
    ]
    return SourceDocument(
        doc_id=f"{source}:{topic.id}",
        source=source,
        kind="forum",
        title=topic.title,
        url=f"{url_base}/t/{topic.slug or 'topic'}/{topic.id}" if url_base else None,
        sections=sections,
        created_at=kept[0].created_at,
        updated_at=max(dates) if dates else None,
        version=content_version(json.dumps(payload).encode()),
        acl=acl,
        contributions=people,
        tags=[*topic.tags, *([label] if label else [])],
        path=(label,) if label else (),
    )


def _likes(obj: dict[str, Any]) -> int:
    """Reactions (a thumbs-down aside) or likes, whichever is larger: reactions usually include likes."""
    reactions = obj.get("reactions")
    total = 0
    if isinstance(reactions, list):
        total = sum(
            int(r.get("count") or 0) for r in reactions if isinstance(r, dict) and r.get("id") != "-1"
        )
    actions = obj.get("actions_summary")
    likes = 0
    if isinstance(actions, list):
        likes = sum(int(a.get("count") or 0) for a in actions if isinstance(a, dict) and a.get("id") == 2)
    return max(total, likes)


def _cooked_own_text(cooked: str) -> str:
    soup = BeautifulSoup(cooked, "lxml")
    for quote in soup.select("aside.quote"):
        quote.decompose()
    return html_to_text(str(soup))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def iso_or_empty(value: datetime | None) -> str:
    """An ISO time, or "" when there is none (it sorts before every time)."""
    return value.isoformat() if value is not None else ""


def parse_date(value: Any) -> datetime | None:
    """Discourse dates are ISO 8601 with `Z`; anything else is None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return to_utc(datetime.fromisoformat(value))
    except ValueError:
        return None
