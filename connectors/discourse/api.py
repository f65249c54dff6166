"""The Discourse JSON API as the `discourse` connector reads it: topic listing pages and whole topics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from connectors._shared.cursors import held_cursor
from connectors._shared.http_retry import (
    RETRY_STATUSES,
    Retry,
    decode_json,
    doubling_delay_s,
    retry_after_s,
    with_retries,
)
from connectors.base import Acl, ConnectorError, ConnectorFailure, SourceDocument
from connectors.discourse.categories import EVERYONE, CategoryAccess, configured_groups
from connectors.discourse.options import DiscourseOptions
from connectors.discourse.posts import Post, PostError, Topic, parse_date, parse_post, topic_document

_log = logging.getLogger(__name__)


class DiscourseApiError(Exception):
    """A request that failed for good: the message names the path and why, never a credential."""


@dataclass(frozen=True, slots=True)
class TopicSummary:
    """One row of `/latest.json`: enough to decide whether the topic changed."""

    id: int
    activity_at: datetime | None  # max(bumped_at, last_posted_at); None when the forum gives neither
    pinned: bool
    category_id: int | None = None


class ApiReader:
    """The API mode of the `discourse` connector: topics bumped after the cursor, fetched whole."""

    def __init__(
        self,
        source: str,
        url: str,
        options: DiscourseOptions,
        acl: Acl,
        *,
        headers: dict[str, str],
        timeout_s: float,
    ) -> None:
        self.source = source
        self.url = url
        self.options = options
        self.acl = acl
        self.cursor: str | None = None
        self._headers = headers  # credentials: sent, never logged
        self._timeout_s = timeout_s

    def client(self) -> DiscourseClient:
        return DiscourseClient(
            self.url,
            timeout_s=self._timeout_s,
            headers=self._headers,
            max_retries=self.options.max_retries,
            backoff_s=self.options.backoff_s,
            max_retry_after_s=self.options.max_retry_after_s,
        )

    def load(self, since_at: datetime | None) -> Iterator[SourceDocument | ConnectorFailure]:
        """A topic that cannot be fetched is a failure and holds the cursor just before its activity, so
        the next run asks for it again; a listing that fails fails the whole source (ConnectorError)."""
        client = self.client()
        try:
            access = self._access(client)
            try:
                summaries = list(iter_latest(client, since_at, self.options.max_pages))
            except DiscourseApiError as exc:
                raise ConnectorError(f"listing topics failed: {exc}") from exc
            done: list[datetime] = []
            failed: list[datetime | None] = []
            for summary in summaries:
                try:
                    data = fetch_topic(client, summary.id, self.options.posts_per_request)
                except DiscourseApiError as exc:
                    failed.append(summary.activity_at)
                    yield ConnectorFailure(
                        source=self.source, doc_id=f"{self.source}:{summary.id}", error=str(exc)
                    )
                    continue
                yield from self._document(summary.id, data, access)
                if summary.activity_at is not None:
                    done.append(summary.activity_at)
        finally:
            client.close()
        newest = max([*done, *([since_at] if since_at else [])], default=None)
        self.cursor = held_cursor(since_at, newest, failed)

    def list_ids(self) -> Iterator[int]:
        """Topics the source holds: not those of a category whose readers are unknown (skipped by `load`,
        so a topic moved into one is pruned rather than kept with a wider ACL)."""
        client = self.client()
        try:
            access = self._access(client)
            for summary in iter_latest(client, None, self.options.max_pages):
                if access.topic_acl(summary.category_id, self.acl) is not None:
                    yield summary.id
        except DiscourseApiError as exc:
            raise ConnectorError(f"listing topics failed: {exc}") from exc
        finally:
            client.close()

    def _access(self, client: DiscourseClient) -> CategoryAccess:
        try:
            return read_access(client, self.options.restricted_categories)
        except DiscourseApiError as exc:
            raise ConnectorError(f"listing categories failed: {exc}") from exc

    def _document(
        self, topic_id: int, data: dict[str, Any], access: CategoryAccess
    ) -> Iterator[SourceDocument | ConnectorFailure]:
        doc_id = f"{self.source}:{topic_id}"
        category = data.get("category_id") if isinstance(data.get("category_id"), int) else None
        acl = access.topic_acl(category, self.acl)
        if acl is None:
            _log.info(
                "discourse %s: topic %d skipped: category %s is restricted", self.source, topic_id, category
            )
            return
        posts: list[Post] = []
        for obj in data["post_stream"]["posts"]:
            try:
                posts.append(parse_post(obj, topic_id))
            except PostError as exc:
                yield ConnectorFailure(
                    source=self.source, doc_id=doc_id, error=f"post {obj.get('id')}: {exc}"
                )
        tags = []
        for tag in data.get("tags") or []:  # plain names, or {"id", "name", "slug"} on newer forums
            name = tag.get("name") if isinstance(tag, dict) else tag
            if isinstance(name, str) and name:
                tags.append(name)
        title = data.get("title") or data.get("fancy_title") or f"Topic {topic_id}"
        slug = data.get("slug") if isinstance(data.get("slug"), str) else None
        topic = Topic(topic_id, str(title), slug, category, tuple(tags))
        doc = topic_document(self.source, topic, posts, acl, self.options)
        if doc is not None:
            yield doc


class DiscourseClient:
    """GET JSON with a timeout, retrying 429 and 5xx (honouring Retry-After) and transport errors."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        headers: dict[str, str] | None = None,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        max_retry_after_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={"Accept": "application/json", **(headers or {})},
            follow_redirects=False,  # a redirect to another host would carry the Api-Key header along
        )

    def close(self) -> None:
        self._http.close()

    def get_json(self, path: str, params: list[tuple[str, str]] | None = None) -> Any:
        """The decoded JSON body of `GET base_url + path`, or DiscourseApiError."""
        url = self.base_url + path
        tries = self._max_retries + 1
        outcome = with_retries(
            lambda: self._attempt(url, path, params), tries, lambda n, r: self._pause(path, n, r)
        )
        if isinstance(outcome, Retry):
            raise DiscourseApiError(f"GET {path}: {outcome.problem} (gave up after {tries} attempts)")
        return outcome

    def _attempt(self, url: str, path: str, params: list[tuple[str, str]] | None) -> Any:
        """One GET: the decoded answer, a Retry, or DiscourseApiError when trying again cannot help."""
        try:
            response = self._http.get(url, params=tuple(params or ()))
        except httpx.TimeoutException:
            return Retry(f"timed out after {self._timeout_s:g} s")
        except httpx.TransportError as exc:
            return Retry(f"connection failed ({type(exc).__name__})")
        status = response.status_code
        if status == 200:
            return decode_json(response, f"GET {path}", DiscourseApiError)
        if response.is_redirect:
            where = response.headers.get("Location", "?")
            raise DiscourseApiError(
                f"GET {path}: HTTP {status} redirect to {where}; give the final address as url"
            )
        if status not in RETRY_STATUSES:
            raise DiscourseApiError(f"GET {path}: HTTP {status}")
        wait = retry_after_s(response.headers.get("Retry-After"))
        if wait is not None and wait > self._max_retry_after_s:
            raise DiscourseApiError(
                f"GET {path}: HTTP {status}, Retry-After {wait:g} s is over "
                f"max_retry_after_s ({self._max_retry_after_s:g} s)"
            )
        return Retry(f"HTTP {status}", wait, status)

    def _pause(self, path: str, n: int, retry: Retry) -> None:
        delay = doubling_delay_s(n, retry, self._backoff_s)
        _log.info("GET %s: %s; retry %d in %.1f s", path, retry.problem, n, delay)
        self._sleep(min(delay, self._max_retry_after_s))


def iter_latest(client: DiscourseClient, since: datetime | None, max_pages: int) -> Iterator[TopicSummary]:
    """Topics from `/latest.json`, newest activity first, page by page until an empty page. With `since`,
    paging stops after a page whose unpinned topics are all older (pinned ones stay on top whatever
    their age). A topic seen on two pages (it was bumped while paging) is given once."""
    seen: set[int] = set()
    params: list[tuple[str, str]] = [("page", "0")]
    path = "/latest.json"
    for _ in range(max_pages):
        data = client.get_json(path, params)
        topic_list = data.get("topic_list") if isinstance(data, dict) else None
        topics = topic_list.get("topics") if isinstance(topic_list, dict) else None
        if not isinstance(topic_list, dict) or not isinstance(topics, list):
            raise DiscourseApiError(f"GET {path}: no topic_list.topics in the answer")
        fresh = False
        new_ids = 0
        for raw in topics:
            summary = _summary(raw)
            if summary is None or summary.id in seen:
                continue
            seen.add(summary.id)
            new_ids += 1
            newer = since is None or summary.activity_at is None or summary.activity_at > since
            fresh |= newer and not summary.pinned
            if newer:
                yield summary
        if not topics or new_ids == 0 or (since is not None and not fresh):
            return
        path, params = _next_page(client, topic_list, params)
    raise DiscourseApiError(f"GET /latest.json: still more topics after max_pages ({max_pages}) pages")


def fetch_topic(client: DiscourseClient, topic_id: int, posts_per_request: int) -> dict[str, Any]:
    """`/t/{id}.json` with every post: those beyond the first chunk of `post_stream.stream` are fetched with
    `/t/{id}/posts.json?post_ids[]=...`. Posts the forum does not return (deleted meanwhile) are left out."""
    path = f"/t/{topic_id}.json"
    topic = client.get_json(path)
    stream_obj = topic.get("post_stream") if isinstance(topic, dict) else None
    if not isinstance(topic, dict) or not isinstance(stream_obj, dict):
        raise DiscourseApiError(f"GET {path}: no post_stream in the answer")
    posts = [p for p in stream_obj.get("posts") or [] if isinstance(p, dict)]
    have = {p.get("id") for p in posts}
    missing = [pid for pid in stream_obj.get("stream") or [] if isinstance(pid, int) and pid not in have]
    for start in range(0, len(missing), posts_per_request):
        batch = missing[start : start + posts_per_request]
        more_path = f"/t/{topic_id}/posts.json"
        more = client.get_json(more_path, [("post_ids[]", str(pid)) for pid in batch])
        chunk = more.get("post_stream", {}).get("posts") if isinstance(more, dict) else None
        if not isinstance(chunk, list):
            raise DiscourseApiError(f"GET {more_path}: no post_stream.posts in the answer")
        for post in chunk:
            if (
                isinstance(post, dict)
                and post.get("id") not in have
                and post.get("topic_id") in (None, topic_id)
            ):
                have.add(post.get("id"))
                posts.append(post)
    return {**topic, "post_stream": {**stream_obj, "posts": posts}}


def read_access(client: DiscourseClient, configured: dict[int, list[str]]) -> CategoryAccess:
    """The forum's categories (`/site.json`: those the key can see) with their `read_restricted` flag;
    each restricted one not configured is asked for its `group_permissions` (`/c/{id}/show.json`).
    Raises DiscourseApiError when the category list itself cannot be read."""
    data = client.get_json("/site.json")
    listed = data.get("categories") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        raise DiscourseApiError("GET /site.json: no categories in the answer")
    groups = configured_groups(configured)
    open_ids: set[int] = set()
    for category in listed:
        cid = category.get("id") if isinstance(category, dict) else None
        if not isinstance(cid, int) or isinstance(cid, bool) or cid in groups:
            continue
        if not category.get("read_restricted"):
            open_ids.add(cid)
            continue
        readers = _readers(client, cid)
        if readers is None:
            _log.warning(
                "discourse category %d is restricted and its readers unknown: its topics are skipped", cid
            )
        elif EVERYONE in readers:
            open_ids.add(cid)
        elif readers:
            groups[cid] = readers
    return CategoryAccess(frozenset(open_ids), groups, others_open=False)


def _readers(client: DiscourseClient, category_id: int) -> frozenset[str] | None:
    """Group names with any permission on the category (each one includes reading); None when the forum
    does not say (it shows `group_permissions` to admins only) or the request fails."""
    try:
        data = client.get_json(f"/c/{category_id}/show.json")
    except DiscourseApiError as exc:  # a missing permission view costs this category, not the source
        _log.warning("discourse category %d: cannot read its permissions: %s", category_id, exc)
        return None
    category = data.get("category") if isinstance(data, dict) else None
    permissions = category.get("group_permissions") if isinstance(category, dict) else None
    if not isinstance(permissions, list):
        return None
    return frozenset(
        str(p["group_name"])
        for p in permissions
        if isinstance(p, dict) and isinstance(p.get("group_name"), str)
    )


def _summary(raw: Any) -> TopicSummary | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
        return None
    dates = [d for d in (parse_date(raw.get("bumped_at")), parse_date(raw.get("last_posted_at"))) if d]
    category = raw.get("category_id")
    return TopicSummary(
        id=raw["id"],
        activity_at=max(dates) if dates else None,
        pinned=bool(raw.get("pinned")),
        category_id=category if isinstance(category, int) and not isinstance(category, bool) else None,
    )


def _next_page(
    client: DiscourseClient, topic_list: dict[str, Any], params: list[tuple[str, str]]
) -> tuple[str, list[tuple[str, str]]]:
    """Follow `more_topics_url` when the forum gives it (`/latest?page=2`), else ask for page + 1."""
    more = topic_list.get("more_topics_url")
    if isinstance(more, str) and more:
        parts = urlsplit(more)
        path = parts.path
        prefix = urlsplit(client.base_url).path.rstrip("/")  # a forum served under a sub-folder
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        path = path if path.endswith(".json") else path.rstrip("/") + ".json"
        return path, parse_qsl(parts.query)
    page = int(dict(params).get("page", "0")) + 1
    return "/latest.json", [("page", str(page))]
