"""The `discourse` connector: a Discourse forum, one document per topic, from a post archive or the live API."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors._shared.cursors import parse_cursor_leniently
from connectors.base import Acl, ConnectorError, ConnectorFailure, DocId, SourceDocument
from connectors.config import ConfigError, SourceConfig, SourceContext, parse_options, resolve_source_path
from connectors.discourse.api import ApiReader
from connectors.discourse.categories import configured_access
from connectors.discourse.options import DiscourseOptions
from connectors.discourse.posts import Post, PostError, Topic, iso_or_empty, parse_post, topic_document

_log = logging.getLogger(__name__)


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
        self._archive_access = configured_access(options.restricted_categories)
        self._api: ApiReader | None = None
        if url is not None:
            self._api = ApiReader(name, url, options, acl, headers=headers or {}, timeout_s=timeout_s)
        self._cursor: str | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> DiscourseConnector:
        where = f"source {config.name!r}"
        if (config.path is None) == (config.url is None):
            raise ConfigError(f"{where}: give either 'path' (a post archive folder) or 'url' (the forum)")
        options = parse_options(config, DiscourseOptions)
        if config.path is not None:
            folder = resolve_source_path(config, context, kind="folder")
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
        since_at = parse_cursor_leniently(since, _log)
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
            newest = max(
                posts, key=lambda p: (iso_or_empty(p.updated_at), p.post_number)
            )  # the freshest copy
            topic = Topic(
                id=topic_id,
                title=newest.topic_title or f"Topic {topic_id}",
                slug=newest.topic_slug,
                category_id=newest.category_id,
            )
            acl = self._archive_access.topic_acl(topic.category_id, self._acl) or self._acl
            doc = topic_document(self.name, topic, posts, acl, self._options)
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
        if held is None or iso_or_empty(post.updated_at) >= iso_or_empty(held.updated_at):
            by_key[key] = post
    for post in by_key.values():
        scan.posts.setdefault(post.topic_id, []).append(post)
    for posts in scan.posts.values():
        posts.sort(key=lambda p: (p.post_number, p.id or 0))
    return scan
