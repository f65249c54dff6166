"""The `discourse` connector: a Discourse forum, one document per topic, from a post archive or the live API."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bs4 import BeautifulSoup
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import (
    Acl,
    ConnectorError,
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
from connectors.config import ConfigError, SourceConfig, SourceContext
from connectors.stackexchange_dump import html_to_text

if TYPE_CHECKING:
    from connectors.discourse_api import ApiReader

_log = logging.getLogger(__name__)

REGULAR_POST = 1  # post_type: 2 moderator action, 3 small action ("closed the topic"), 4 whisper (staff only)
# what a post quotes from others: [quote="user, post:3"]...[/quote] blocks and "> " lines
_QUOTE = re.compile(r"\[quote(?:=[^\]]*)?\].*?\[/quote\]\s*|^[ \t]*>[^\n]*\n?", re.S | re.I | re.M)


class DiscourseOptions(BaseModel):
    """Options of a `discourse` source beside the common name, acl and `path` (archive) or `url` (API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url_base: str | None = None  # links f"{url_base}/t/{slug}/{id}"; the API mode defaults to `url`
    categories: dict[int, str] = Field(default_factory=dict)  # category_id -> name, for tags and path
    max_file_mb: float = Field(default=5.0, gt=0)  # archive: a bigger post file is refused
    posts_per_request: int = Field(default=20, ge=1, le=200)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=1.0, ge=0)
    max_retry_after_s: float = Field(default=120.0, gt=0)
    max_pages: int = Field(default=1000, ge=1)


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
        [[p.id, p.post_number, _iso(p.updated_at), p.version, p.likes, p.accepted] for p in kept],
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


class DiscourseConnector:
    """Topics of one forum; ids are `<source>:<topic_id>`, the cursor an ISO UTC time."""

    def __init__(
        self,
        name: str,
        options: DiscourseOptions,
        acl: Acl,
        *,
        folder: Path | None = None,
        url: str | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if (folder is None) == (url is None):
            raise ValueError("a discourse source reads either an archive folder or a forum URL")
        self.name = name
        self._options = options
        self._acl = acl
        self._folder = folder
        self._api: ApiReader | None = None
        if url is not None:
            # the API mode lives in its own module, loaded on first use (an archive run needs no httpx)
            from connectors.discourse_api import ApiReader

            self._api = ApiReader(name, url, options, acl, headers=headers or {}, timeout_s=timeout_s)
        self._cursor: str | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> DiscourseConnector:
        where = f"source {config.name!r}"
        if (config.path is None) == (config.url is None):
            raise ConfigError(f"{where}: give either 'path' (a post archive folder) or 'url' (the forum)")
        try:
            options = DiscourseOptions.model_validate(config.options)
        except ValidationError as exc:
            first = exc.errors()[0]
            field_name = ".".join(str(p) for p in first["loc"]) or "options"
            raise ConfigError(f"{where}: field '{field_name}': {first['msg']}") from exc
        if config.path is not None:
            folder = config.path if config.path.is_absolute() else context.base_dir / config.path
            if not folder.is_dir():
                raise ConfigError(f"{where}: field 'path': {folder} is not a folder")
            return cls(config.name, options, config.acl, folder=folder)
        url = str(config.url)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: field 'url': {url!r} is not an http(s) URL")
        if options.url_base is None:
            options = options.model_copy(update={"url_base": url})
        headers = {}
        for key, header in (("api_key", "Api-Key"), ("api_username", "Api-Username")):
            secret = context.secrets.get(f"{config.name}.{key}")
            if secret is not None:
                headers[header] = secret.get_secret_value()
        return cls(config.name, options, config.acl, url=url, headers=headers, timeout_s=context.timeout_s)

    @property
    def cursor(self) -> str | None:
        return self._api.cursor if self._api is not None else self._cursor

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        since_at = _parse_cursor(since)
        if self._api is not None:
            yield from self._api.load(since_at)
        elif self._folder is not None:
            yield from self._load_archive(self._folder, since, since_at)

    def list_ids(self) -> Iterator[DocId]:
        if self._api is not None:
            yield from (f"{self.name}:{topic_id}" for topic_id in self._api.list_ids())
            return
        assert self._folder is not None
        scan = scan_archive(self._folder, self._options)
        if scan.unattributed:
            raise ConnectorError(
                f"{self._folder}: {scan.unattributed} post files name no topic; the listing is incomplete"
            )
        ids = sorted(t for t, posts in scan.posts.items() if any(p.visible for p in posts))
        yield from (f"{self.name}:{t}" for t in ids)

    # --- archive mode ----------------------------------------------------------------------------

    def _load_archive(
        self, folder: Path, since: str | None, since_at: datetime | None
    ) -> Iterator[SourceDocument | ConnectorFailure]:
        """Every file is read each time (topics must be whole); only topics with a post created or edited
        after the cursor are yielded. The cursor stays put while a file is unreadable."""
        scan = scan_archive(folder, self._options)
        for rel, error in scan.failures:
            yield ConnectorFailure(source=self.name, error=f"{rel}: {error}", path=str(folder / rel))
        latest: datetime | None = None
        for topic_id in sorted(scan.posts):
            posts = scan.posts[topic_id]
            dates = [d for p in posts for d in (p.created_at, p.updated_at) if d is not None]
            activity = max(dates) if dates else None
            if activity is not None and (latest is None or activity > latest):
                latest = activity
            if since_at is not None and activity is not None and activity <= since_at:
                continue
            newest = max(posts, key=lambda p: (_iso(p.updated_at), p.post_number))  # the freshest copy
            topic = Topic(
                id=topic_id,
                title=newest.topic_title or f"Topic {topic_id}",
                slug=newest.topic_slug,
                category_id=newest.category_id,
            )
            doc = topic_document(self.name, topic, posts, self._acl, self._options)
            if doc is not None:
                yield doc
        self._cursor = since if scan.failures else (latest.isoformat() if latest else since)


@dataclass
class ArchiveScan:
    """Posts of an archive folder by topic (one copy per post), and the files that could not be read."""

    posts: dict[int, list[Post]] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (relative path, error)
    unattributed: int = 0  # unreadable files whose topic is unknown
    files: int = 0


def scan_archive(folder: Path, options: DiscourseOptions) -> ArchiveScan:
    """Read every `*.json` post file under `folder` (dot-files such as `.metadata.json` are skipped). The
    same post saved twice (a renamed topic, a sync conflict copy) is kept once: its latest edit."""
    scan = ArchiveScan()
    by_key: dict[int | tuple[int, int], Post] = {}
    max_bytes = int(options.max_file_mb * 1024 * 1024)
    for path in sorted(folder.rglob("*.json")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        scan.files += 1
        obj: Any = None
        try:
            if path.stat().st_size > max_bytes:
                raise PostError(f"file over max_file_mb ({options.max_file_mb:g} MB)")
            obj = json.loads(path.read_bytes())
            post = parse_post(obj)
        except (
            OSError,
            ValueError,
        ) as exc:  # PostError, JSONDecodeError and UnicodeDecodeError are ValueErrors
            error = f"not UTF-8 JSON (byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else str(exc)
            scan.failures.append(
                (rel.as_posix(), error if isinstance(exc, PostError) else f"unreadable: {error}")
            )
            topic_id = obj.get("topic_id") if isinstance(exc, PostError) and isinstance(obj, dict) else None
            if isinstance(topic_id, int):
                scan.posts.setdefault(topic_id, [])
            else:
                scan.unattributed += 1
            continue
        # by post id across topics: a post moved to another topic belongs where its newest copy says
        key: int | tuple[int, int] = post.id if post.id is not None else (post.topic_id, post.post_number)
        held = by_key.get(key)
        if held is None or _iso(post.updated_at) >= _iso(held.updated_at):
            by_key[key] = post
    for post in by_key.values():
        scan.posts.setdefault(post.topic_id, []).append(post)
    for posts in scan.posts.values():
        posts.sort(key=lambda p: (p.post_number, p.id or 0))
    return scan


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


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def parse_date(value: Any) -> datetime | None:
    """Discourse dates are ISO 8601 with `Z`; anything else is None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return to_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def _parse_cursor(since: str | None) -> datetime | None:
    if not since:
        return None
    try:
        return to_utc(datetime.fromisoformat(since))
    except ValueError:
        _log.warning("unreadable cursor %r: reading everything", since)
        return None
