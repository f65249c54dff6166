"""The Confluence REST API (v1 content endpoints): pages with version authors and read restrictions."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from bs4 import BeautifulSoup

from connectors.base import (
    Acl,
    ConnectorError,
    ConnectorFailure,
    Contribution,
    PersonRef,
    Role,
    Section,
    SourceDocument,
)
from connectors.config import SourceConfig, SourceContext
from connectors.confluence import _sections, storage_version

log = logging.getLogger(__name__)

EXPAND = (
    "body.storage,version,history,ancestors,"
    "restrictions.read.restrictions.user,restrictions.read.restrictions.group"
)
RETRY_STATUSES = {429, 500, 502, 503, 504}


class ConfluenceApiConnector:
    """Pages of one space through /rest/api/content, paginated by `_links.next`; CQL for changes since."""

    def __init__(self, config: SourceConfig, context: SourceContext):
        self.name = config.name
        self.config = config
        self.base = str(config.url).rstrip("/")
        self.space = config.options.get("space")
        self.max_tries = int(config.options.get("max_retries", 4))
        self.backoff_s = float(config.options.get("backoff_s", 0.5))
        user = context.secrets.get(f"{config.name}.username")
        token = context.secrets.get(f"{config.name}.token")
        auth = (user.get_secret_value(), token.get_secret_value()) if user and token else None
        headers = {"User-Agent": "WhoKnows/0.1 (+intranet search)", "Accept": "application/json"}
        if token and not user:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        self.client = httpx.Client(
            timeout=context.timeout_s, auth=auth, headers=headers, follow_redirects=False
        )
        self._cursor: str | None = None

    @property
    def cursor(self) -> str | None:
        return self._cursor

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        url = path if path.startswith("http") else f"{self.base}{path}"
        for attempt in range(1, self.max_tries + 1):
            try:
                response = self.client.get(url, params=params)
            except httpx.TimeoutException as exc:
                error = f"GET {url} timed out after {self.client.timeout.read}s"
                if attempt == self.max_tries:
                    raise ConnectorError(error) from exc
                continue
            except httpx.HTTPError as exc:
                raise ConnectorError(f"GET {url}: {exc}") from exc
            if response.status_code in RETRY_STATUSES and attempt < self.max_tries:
                retry_after = response.headers.get("Retry-After", "")
                wait = float(retry_after) if retry_after.isdigit() else self.backoff_s * 2 ** (attempt - 1)
                time.sleep(min(wait, 30.0) + random.uniform(0, 0.1))
                continue
            if response.status_code >= 400:
                raise ConnectorError(f"GET {url} answered HTTP {response.status_code} after {attempt} tries")
            try:
                data: dict[str, Any] = response.json()
            except ValueError as exc:
                raise ConnectorError(f"GET {url}: not JSON") from exc
            return data
        raise ConnectorError(f"GET {url}: giving up")

    def _pages(self, cql: str | None = None) -> Iterator[dict[str, Any]]:
        if cql:
            path, params = "/rest/api/content/search", {"cql": cql, "expand": EXPAND, "limit": 50}
        else:
            params = {"type": "page", "expand": EXPAND, "limit": 50}
            if self.space:
                params["spaceKey"] = self.space
            path = "/rest/api/content"
        page: dict[str, Any] | None = self._get(path, params)
        while page is not None:
            yield from page.get("results", [])
            nxt = (page.get("_links") or {}).get("next")
            page = self._get(nxt) if nxt else None

    def list_ids(self) -> Iterator[str]:
        for item in self._pages():
            yield f"{self.name}:{item['id']}"

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        started = datetime.now(UTC)
        cql = None
        if since:
            stamp = datetime.fromisoformat(since).strftime("%Y-%m-%d %H:%M")
            cql = f'type=page and lastmodified > "{stamp}"' + (
                f' and space="{self.space}"' if self.space else ""
            )
        for item in self._pages(cql):
            try:
                yield self._document(item)
            except (KeyError, TypeError, ValueError, ConnectorError) as exc:
                yield ConnectorFailure(
                    source=self.name,
                    doc_id=f"{self.name}:{item.get('id')}",
                    error=f"page {item.get('id')}: {exc}",
                )
        self._cursor = started.isoformat()

    def _acl(self, item: dict[str, Any]) -> Acl:
        read = ((item.get("restrictions") or {}).get("read") or {}).get("restrictions") or {}
        users = [u.get("accountId") or u.get("username") for u in (read.get("user") or {}).get("results", [])]
        groups = [g.get("name") for g in (read.get("group") or {}).get("results", [])]
        users = [u for u in users if u]
        groups = [g for g in groups if g]
        if not users and not groups:
            return self.config.acl
        return Acl(public=False, users=frozenset(users), groups=frozenset(groups))

    def _document(self, item: dict[str, Any]) -> SourceDocument:
        body = item["body"]["storage"]["value"]
        soup = BeautifulSoup(f"<div>{body}</div>", "lxml")
        sections = _sections(soup.div) or [Section(text=item["title"])]  # type: ignore[arg-type]
        history = item.get("history") or {}
        version = item.get("version") or {}
        people = []
        creator = history.get("createdBy") or {}
        created = _date(history.get("createdDate"))
        if creator:
            people.append(Contribution(person=_person(creator), role=Role.AUTHOR, at=created))
        authors = {}
        for v in self._get(f"/rest/api/content/{item['id']}/version", {"limit": 200}).get("results", []):
            by = v.get("by") or {}
            key = by.get("accountId") or by.get("username")
            if key and key != (creator.get("accountId") or creator.get("username")):
                authors[key] = (by, _date(v.get("when")))
        for by, when in authors.values():
            people.append(Contribution(person=_person(by), role=Role.EDITOR, at=when))
        links = item.get("_links") or {}
        return SourceDocument(
            doc_id=f"{self.name}:{item['id']}",
            source=self.name,
            kind="wiki",
            title=item["title"],
            url=f"{self.base}{links['webui']}" if links.get("webui") else None,
            sections=sections,
            created_at=created,
            updated_at=_date(version.get("when")),
            version=f"{version.get('number', 0)}-{storage_version(body)}",
            acl=self._acl(item),
            contributions=people,
            path=tuple(a.get("title", "") for a in item.get("ancestors") or []),
        )


def _person(user: dict[str, Any]) -> PersonRef:
    account = user.get("accountId") or user.get("username") or user.get("displayName")
    return PersonRef(account=str(account), name=user.get("displayName"), email=user.get("email"))


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
