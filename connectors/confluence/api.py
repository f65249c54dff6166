"""The Confluence REST API (v1 content endpoints, Cloud and Server): pages, version authors, read restrictions."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

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
from connectors.base import (
    Acl,
    ConnectorError,
    ConnectorFailure,
    Contribution,
    PersonRef,
    Role,
    Section,
    SourceDocument,
    content_version,
    to_utc,
)
from connectors.confluence.export import html_sections, storage_soup
from connectors.confluence.options import ConfluenceOptions
from connectors.confluence.restrictions import Restriction, effective_acl, read_restriction, user_ref

_log = logging.getLogger(__name__)

READ_RESTRICTIONS = "restrictions.read.restrictions.user,restrictions.read.restrictions.group"
EXPAND = f"body.storage,version,history,ancestors,{READ_RESTRICTIONS}"
_HINTS = {401: " (check the username/token secrets)", 403: " (the account may not read this space)"}


class ConfluenceApiError(Exception):
    """A request that failed for good (after its retries); `status` is the last HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConfluenceClient:
    """GET JSON under one base URL with a timeout, retrying 429 and 5xx (honouring Retry-After) and
    transport errors. Credentials ride on the client; they are never logged, and redirects are not
    followed (they would carry them to another host)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        auth: httpx.Auth | None = None,
        headers: dict[str, str] | None = None,
        tries: int = 4,
        backoff_s: float = 1.0,
        max_retry_after_s: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = urlsplit(self.base_url)[:2]
        self._timeout_s = timeout_s
        self._tries = tries
        self._backoff_s = backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            auth=auth,
            headers={"Accept": "application/json", "User-Agent": "WhoKnows", **(headers or {})},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        """`GET base_url + path` (or an absolute URL on the same host) as JSON, or ConfluenceApiError."""
        if path.startswith(("http://", "https://")):
            if urlsplit(path)[:2] != self._origin:
                raise ConfluenceApiError(f"GET {path}: refusing to follow a link to another host")
            url = path
        else:
            url = self.base_url + path
        shown = url[len(self.base_url) :] if url.startswith(self.base_url) else url
        outcome = with_retries(
            lambda: self._attempt(url, params, shown), self._tries, lambda n, r: self._pause(shown, n, r)
        )
        if isinstance(outcome, Retry):
            raise ConfluenceApiError(
                f"GET {shown}: {outcome.problem} after {self._tries} tries", outcome.status
            )
        return outcome

    def _attempt(self, url: str, params: dict[str, str] | None, shown: str) -> Any:
        """One GET: the decoded answer, a Retry, or ConfluenceApiError when trying again cannot help."""
        try:
            response = self._http.get(url, params=params)
        except httpx.TimeoutException:
            return Retry(f"timed out ({self._timeout_s:g} s)")
        except httpx.TransportError as exc:
            return Retry(f"connection failed ({type(exc).__name__})")
        status = response.status_code
        if status == 200:
            return decode_json(response, f"GET {shown}", ConfluenceApiError)
        if status not in RETRY_STATUSES:
            raise ConfluenceApiError(f"GET {shown}: HTTP {status}{_HINTS.get(status, '')}", status)
        wait = retry_after_s(response.headers.get("Retry-After"))
        if wait is not None and wait > self._max_retry_after_s:
            raise ConfluenceApiError(
                f"GET {shown}: HTTP {status}, Retry-After {wait:g} s is over max_retry_after_s", status
            )
        return Retry(f"HTTP {status}", wait, status)

    def _pause(self, shown: str, n: int, retry: Retry) -> None:
        delay = doubling_delay_s(n, retry, self._backoff_s)
        _log.info("GET %s: %s; retry %d in %.1f s", shown, retry.problem, n, delay)
        self._sleep(min(delay, self._max_retry_after_s))

    def iter_results(self, path: str, params: dict[str, str], max_pages: int) -> Iterator[dict[str, Any]]:
        """The `results` of a paginated answer, following `_links.next` until there is none."""
        next_path: str | None = path
        next_params: dict[str, str] | None = params
        for _ in range(max_pages):
            if next_path is None:
                return
            data = self.get_json(next_path, next_params)
            results = data.get("results") if isinstance(data, dict) else None
            if not isinstance(results, list):
                raise ConfluenceApiError(f"GET {next_path}: no 'results' list in the answer")
            yield from (r for r in results if isinstance(r, dict))
            nxt = _dict(data.get("_links")).get("next")
            next_path, next_params = (nxt if isinstance(nxt, str) and nxt else None), None
            if next_path is not None and not results:
                return  # a next link after an empty page would loop
        if next_path is not None:
            raise ConfluenceApiError(f"GET {path}: still more results after max_pages ({max_pages})")


class ApiReader:
    """The API mode of ConfluenceConnector: `load` and `list_ids` over a space's pages."""

    def __init__(
        self,
        source: str,
        url: str,
        options: ConfluenceOptions,
        acl: Acl,
        *,
        auth: httpx.Auth | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.url = url.rstrip("/")
        self.options = options
        self.acl = acl
        self.cursor: str | None = None
        self._client_args: dict[str, Any] = {
            "timeout_s": timeout_s,
            "auth": auth,
            "headers": headers,
            "tries": options.max_retries,
            "backoff_s": options.backoff_s,
            "max_retry_after_s": options.max_retry_after_s,
            "sleep": sleep,
        }
        self._versions_supported = options.fetch_versions

    def client(self) -> ConfluenceClient:
        return ConfluenceClient(self.url, **self._client_args)

    def load(self, since: datetime | None) -> Iterator[SourceDocument | ConnectorFailure]:
        """All pages (None) or those changed after `since`. A failed listing raises ConnectorError; a page
        that cannot be read is a failure and holds the cursor back before its change."""
        client = self.client()
        restrictions: dict[str, Restriction | None] = {}
        newest: datetime | None = since
        failed: list[datetime | None] = []
        try:
            for item in self._listing(client, since):
                page_id = str(item.get("id", ""))
                changed = _date(_get(item, "version", "when"))
                if since is not None and changed is not None and changed <= since:
                    continue  # the CQL overlap brought it back; it was read last time
                try:
                    doc = self._document(client, item, restrictions)
                except (ConfluenceApiError, KeyError, TypeError, ValueError) as exc:
                    failed.append(changed)
                    yield ConnectorFailure(
                        source=self.source, doc_id=f"{self.source}:{page_id}", error=f"page {page_id}: {exc}"
                    )
                    continue
                if changed is not None and (newest is None or changed > newest):
                    newest = changed
                yield doc
        except ConfluenceApiError as exc:
            raise ConnectorError(f"listing pages failed: {exc}") from exc
        finally:
            client.close()
        self.cursor = held_cursor(since, newest, failed)

    def list_ids(self) -> Iterator[str]:
        client = self.client()
        params = self._list_params(expand=None)
        try:
            for item in client.iter_results("/rest/api/content", params, self.options.max_pages):
                yield str(item["id"])
        except (ConfluenceApiError, KeyError) as exc:
            raise ConnectorError(f"listing pages failed: {exc}") from exc
        finally:
            client.close()

    # --- one page ----------------------------------------------------------------------------------

    def _listing(self, client: ConfluenceClient, since: datetime | None) -> Iterator[dict[str, Any]]:
        if since is None:
            yield from client.iter_results(
                "/rest/api/content", self._list_params(EXPAND), self.options.max_pages
            )
            return
        start = since - timedelta(hours=self.options.cql_overlap_h)
        cql = f'type = page AND lastmodified >= "{start:%Y-%m-%d %H:%M}"'
        if self.options.space:
            cql = f'space = "{self.options.space}" AND {cql}'
        params = {
            "cql": f"{cql} ORDER BY lastmodified ASC",
            "expand": EXPAND,
            "limit": str(self.options.page_size),
        }
        yield from client.iter_results("/rest/api/content/search", params, self.options.max_pages)

    def _list_params(self, expand: str | None) -> dict[str, str]:
        params = {"type": "page", "limit": str(self.options.page_size)}
        if self.options.space:
            params["spaceKey"] = self.options.space
        if expand:
            params["expand"] = expand
        return params

    def _document(
        self, client: ConfluenceClient, item: dict[str, Any], restrictions: dict[str, Restriction | None]
    ) -> SourceDocument:
        page_id = str(item["id"])
        title = str(item.get("title") or f"Page {page_id}")
        body = _get(item, "body", "storage", "value")
        if not isinstance(body, str):
            raise ValueError("no body.storage in the answer")
        soup = storage_soup(body)
        attachments = sorted(
            {str(a.get("ri:filename")) for a in soup.find_all("ri:attachment") if a.get("ri:filename")}
        )
        sections = html_sections(soup)
        if attachments:
            sections.append(Section(text="Attachments: " + ", ".join(attachments), heading=("Attachments",)))
        if not sections:
            sections.append(Section(text=title))
        restrictions[page_id] = read_restriction(item)
        ancestors = [a for a in item.get("ancestors") or [] if isinstance(a, dict)]
        levels = [restrictions[page_id]] + [self._restriction(client, a, restrictions) for a in ancestors]
        version = _dict(item.get("version"))
        webui = _dict(item.get("_links")).get("webui")
        url_base = (self.options.url_base or self.url).rstrip("/")
        return SourceDocument(
            doc_id=f"{self.source}:{page_id}",
            source=self.source,
            kind="wiki",
            title=title,
            url=f"{url_base}{webui}" if isinstance(webui, str) and webui else None,
            sections=sections,
            created_at=_date(_get(item, "history", "createdDate")),
            updated_at=_date(version.get("when")),
            version=content_version(json.dumps([version.get("number"), title, body]).encode()),
            acl=effective_acl(self.source, self.acl, [r for r in levels if r is not None]),
            contributions=self._people(client, page_id, item),
            path=tuple(str(a.get("title", "")) for a in ancestors),
        )

    def _restriction(
        self, client: ConfluenceClient, ancestor: dict[str, Any], known: dict[str, Restriction | None]
    ) -> Restriction | None:
        """An ancestor's read restriction, which its descendants inherit: from this run's pages, from the
        ancestor object if it came expanded, else one request (cached for the run)."""
        aid = str(ancestor.get("id", ""))
        if aid in known:
            return known[aid]
        if isinstance(ancestor.get("restrictions"), dict):
            known[aid] = read_restriction(ancestor)
            return known[aid]
        try:
            data = client.get_json(f"/rest/api/content/{aid}", {"expand": READ_RESTRICTIONS})
        except ConfluenceApiError as exc:
            if exc.status != 404:
                raise
            # We can read the child, so we passed the ancestor's restrictions: a 404 means it was deleted
            # or moved meanwhile, and it restricts nothing any more.
            data = {}
        known[aid] = read_restriction(data) if isinstance(data, dict) else None
        return known[aid]

    def _people(self, client: ConfluenceClient, page_id: str, item: dict[str, Any]) -> list[Contribution]:
        """The creator (author) and everyone else who saved a version (editor, weight = versions saved)."""
        creator = _get(item, "history", "createdBy")
        created = _date(_get(item, "history", "createdDate"))
        versions = self._versions(client, page_id, item)
        people: list[Contribution] = []
        creator_ref = user_ref(creator) if isinstance(creator, dict) else None
        if creator_ref is not None:
            people.append(Contribution(person=creator_ref, role=Role.AUTHOR, at=created))
        edits: dict[str, tuple[PersonRef, int, datetime | None]] = {}
        for by, when in versions:
            ref = user_ref(by)
            if ref is None or (creator_ref is not None and ref.account == creator_ref.account):
                continue
            _, count, last = edits.get(ref.account, (ref, 0, None))
            edits[ref.account] = (ref, count + 1, max((d for d in (last, when) if d), default=None))
        for ref, count, last in edits.values():
            people.append(Contribution(person=ref, role=Role.EDITOR, at=last, weight=float(count)))
        return people

    def _versions(
        self, client: ConfluenceClient, page_id: str, item: dict[str, Any]
    ) -> list[tuple[dict[str, Any], datetime | None]]:
        current = _dict(item.get("version"))
        by = current.get("by")
        fallback = [(by, _date(current.get("when")))] if isinstance(by, dict) else []
        if not self._versions_supported or current.get("number") == 1:  # one version: no history to ask
            return fallback
        try:
            results = list(
                client.iter_results(
                    f"/rest/api/content/{page_id}/version", {"limit": "200"}, self.options.max_pages
                )
            )
        except ConfluenceApiError as exc:
            if exc.status != 404:
                raise
            self._versions_supported = False  # an older server without the endpoint: ask no more
            return fallback
        found = [(v["by"], _date(v.get("when"))) for v in results if isinstance(v.get("by"), dict)]
        return found or fallback


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None
