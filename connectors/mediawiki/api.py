"""A small MediaWiki Action API client: polite retries, bot-password login, pages, history, changes."""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from connectors._shared.http_retry import Retry, retry_after_s, with_retries
from connectors.base import ConnectorError, to_utc
from connectors.mediawiki.wikitext import WikiNamespaces, WikiPage, WikiRevision

USER_AGENT = "WhoKnows/0.1 (+intranet search)"
_PAGE_PROPS = {
    "prop": "info|revisions",
    "rvprop": "ids|timestamp|user|size|content|comment",
    "rvslots": "main",
}
_IDS_PER_REQUEST = 50  # the API's limit for pageids/titles without the apihighlimits right

log = logging.getLogger(__name__)
Params = Mapping[str, str | int]


class MediaWikiApiError(ConnectorError):
    """The API refused or kept failing; `code` is the API error code when it sent one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_tries` tries; waits grow from `backoff_s` (doubling, with jitter), capped."""

    max_tries: int = 4
    backoff_s: float = 1.0
    max_wait_s: float = 60.0


@dataclass(frozen=True)
class ApiSite:
    """What the connector needs from siteinfo: the server's clock, page URLs, namespace names."""

    server_time: datetime
    article_url: str  # with `$1` where the title goes
    namespaces: WikiNamespaces


class MediaWikiApi:
    """One session with one wiki (cookies persist, so a login holds for its lifetime)."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout_s: float,
        retry: RetryPolicy | None = None,
        maxlag_s: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url
        self._retry = retry or RetryPolicy()
        self._maxlag_s = maxlag_s
        self._timeout_s = timeout_s
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=timeout_s, headers={"User-Agent": USER_AGENT}, follow_redirects=True
        )

    def __enter__(self) -> MediaWikiApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(self, params: Params, *, post: bool = False) -> dict[str, Any]:
        """One API call, retried on 429, 5xx, maxlag and network trouble; raises MediaWikiApiError."""
        full = {**params, "format": "json", "formatversion": "2", "maxlag": str(self._maxlag_s)}
        what = _describe(params)
        tries = max(1, self._retry.max_tries)
        outcome = with_retries(
            lambda: self._attempt(full, what, post), tries, lambda n, r: self._pause(what, n, tries, r)
        )
        if isinstance(outcome, Retry):
            raise MediaWikiApiError(
                f"{self.api_url}: {what}: giving up after {tries} tries: {outcome.problem}"
            )
        return outcome

    def _attempt(self, full: Params, what: str, post: bool) -> dict[str, Any] | Retry:
        """One call: the answer, a Retry (429, 5xx, maxlag, network), or MediaWikiApiError for good."""
        try:
            if post:
                response = self._client.post(self.api_url, data=full)
            else:
                response = self._client.get(self.api_url, params=full)
        except httpx.TimeoutException as exc:
            return Retry(f"timed out after {self._timeout_s:g}s ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return Retry(f"connection failed ({type(exc).__name__}: {exc})")
        status = response.status_code
        if status == 429 or status >= 500:
            return Retry(f"HTTP {status}", retry_after_s(response.headers.get("retry-after")), status)
        if status >= 400:
            raise MediaWikiApiError(f"{self.api_url}: {what}: HTTP {status}")
        data = self._json(response, what)
        error = data.get("error")
        if not isinstance(error, dict):
            return data
        code = str(error.get("code"))
        if code != "maxlag":
            message = f"{self.api_url}: {what}: API error {code}: {error.get('info', '')}"
            if code == "readapidenied":
                message += " (a private wiki: configure a bot password to log in)"
            raise MediaWikiApiError(message, code)
        return Retry(f"maxlag: {error.get('info', '')}", retry_after_s(response.headers.get("retry-after")))

    def _pause(self, what: str, n: int, tries: int, retry: Retry) -> None:
        delay = self._delay(n, retry.wait_s)
        log.warning(
            "%s: %s: %s; try %d of %d in %.2fs", self.api_url, what, retry.problem, n + 1, tries, delay
        )
        self._sleep(delay)

    def query(self, params: Params) -> Iterator[dict[str, Any]]:
        """Every response of a query, following the `continue` values the API hands back."""
        cont: dict[str, Any] = {}
        while True:
            data = self.request({**params, **cont})
            yield data
            next_cont = data.get("continue")
            if not isinstance(next_cont, dict) or next_cont == cont:
                return
            cont = next_cont

    def login(self, username: str, password: SecretStr) -> None:
        """Log in with a bot password (Special:BotPasswords); the session cookie is kept."""
        tokens = self.request({"action": "query", "meta": "tokens", "type": "login"})
        token = tokens.get("query", {}).get("tokens", {}).get("logintoken")
        if not token:
            raise MediaWikiApiError(f"{self.api_url}: login: the wiki sent no login token")
        answer = self.request(
            {
                "action": "login",
                "lgname": username,
                "lgpassword": password.get_secret_value(),
                "lgtoken": token,
            },
            post=True,
        )
        status = answer.get("login", {})
        if status.get("result") != "Success":
            raise MediaWikiApiError(
                f"{self.api_url}: login with the configured bot password failed: "
                f"{status.get('result')}: {status.get('reason', '')}"
            )

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        policy = self._retry
        if retry_after_s is not None:
            return min(retry_after_s, policy.max_wait_s)
        backoff = policy.backoff_s * 2 ** (attempt - 1)
        return min(backoff + random.uniform(0, policy.backoff_s), policy.max_wait_s)

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            kind = response.headers.get("content-type", "unknown content")
            raise MediaWikiApiError(
                f"{self.api_url}: {what}: not a MediaWiki API answer ({kind}); is the URL the wiki's api.php?"
            ) from None
        if not isinstance(data, dict):
            raise MediaWikiApiError(f"{self.api_url}: {what}: unexpected answer shape")
        return data


def site_info(api: MediaWikiApi) -> ApiSite:
    """The wiki's clock (the run's start, on the wiki's own clock), article URLs and namespaces."""
    data = api.request(
        {
            "action": "query",
            "meta": "siteinfo",
            "siprop": "general|namespaces|namespacealiases",
            "curtimestamp": 1,
        }
    )
    query = data.get("query", {})
    general = query.get("general", {})
    server = str(general.get("server", ""))
    if server.startswith("//"):
        server = httpx.URL(api.api_url).scheme + ":" + server
    names: dict[int, list[str]] = {}
    for ns in query.get("namespaces", {}).values():
        names.setdefault(int(ns["id"]), []).extend(n for n in (ns.get("name"), ns.get("canonical")) if n)
    for alias in query.get("namespacealiases", []):
        names.setdefault(int(alias["id"]), []).append(str(alias["alias"]))
    stamp = data.get("curtimestamp")
    return ApiSite(
        server_time=parse_timestamp(stamp) if stamp else datetime.now(UTC),
        article_url=server + str(general.get("articlepath", "/index.php/$1")),
        namespaces=WikiNamespaces.from_names(names),
    )


def iter_all_pages(api: MediaWikiApi, ns: int, batch_size: int) -> Iterator[dict[str, Any]]:
    """Every non-redirect page of a namespace with its latest revision's content, in batches."""
    params: dict[str, str | int] = {
        "action": "query",
        "generator": "allpages",
        "gapnamespace": ns,
        "gapfilterredir": "nonredirects",
        "gaplimit": batch_size,
        **_PAGE_PROPS,
    }
    yield from _complete_batches(api, params)


def fetch_pages(api: MediaWikiApi, page_ids: list[int]) -> Iterator[dict[str, Any]]:
    """The current state of the given pages (latest revision with content); missing ones are flagged."""
    for start in range(0, len(page_ids), _IDS_PER_REQUEST):
        chunk = page_ids[start : start + _IDS_PER_REQUEST]
        params = {"action": "query", "pageids": "|".join(map(str, chunk)), **_PAGE_PROPS}
        yield from _complete_batches(api, params)


def page_history(api: MediaWikiApi, page_id: int) -> list[WikiRevision]:
    """All revisions of a page, oldest first (who, when, size)."""
    params: dict[str, str | int] = {
        "action": "query",
        "prop": "revisions",
        "pageids": page_id,
        "rvprop": "ids|timestamp|user|size",
        "rvlimit": "max",
        "rvdir": "newer",
    }
    revisions: list[WikiRevision] = []
    for data in api.query(params):
        for page in data.get("query", {}).get("pages", []):
            revisions.extend(_revision(rev) for rev in page.get("revisions", []))
    return revisions


def changed_page_ids(api: MediaWikiApi, since: datetime, namespaces: list[int]) -> list[int]:
    """Ids of pages edited, created, moved or restored since `since` (inclusive), oldest change first."""
    params: dict[str, str | int] = {
        "action": "query",
        "list": "recentchanges",
        "rcstart": format_timestamp(since),
        "rcdir": "newer",
        "rcprop": "title|ids|timestamp|user|sizes|loginfo",
        "rctype": "edit|new|log",
        "rclimit": "max",
    }
    wanted = set(namespaces)
    ids: dict[int, None] = {}
    for data in api.query(params):
        for change in data.get("query", {}).get("recentchanges", []):
            # A deleted page is gone: list_ids() lets the pipeline prune it, fetching would find nothing.
            if change.get("logtype") == "delete" and change.get("logaction") != "restore":
                continue
            # Not filtered by rcnamespace: a page moved into a content namespace is logged under its old one.
            target_ns = (change.get("logparams") or {}).get("target_ns")
            if change.get("ns") not in wanted and target_ns not in wanted:
                continue
            page_id = int(change.get("pageid") or 0)
            if page_id > 0:
                ids[page_id] = None
    return list(ids)


def iter_page_ids(api: MediaWikiApi, ns: int) -> Iterator[int]:
    """Every current non-redirect page id in a namespace."""
    params: dict[str, str | int] = {
        "action": "query",
        "list": "allpages",
        "apnamespace": ns,
        "apfilterredir": "nonredirects",
        "aplimit": "max",
    }
    for data in api.query(params):
        for page in data.get("query", {}).get("allpages", []):
            yield int(page["pageid"])


def to_wiki_page(raw: dict[str, Any], history: list[WikiRevision]) -> WikiPage:
    """A page record from an API page object and its history; ValueError when it has no readable text."""
    revisions = raw.get("revisions") or []
    if not revisions:
        raise ValueError("the API returned no revision for the page")
    latest = revisions[-1]
    slot = latest.get("slots", {}).get("main", {})
    if slot.get("texthidden") or latest.get("texthidden") or slot.get("textmissing"):
        raise ValueError(f"the text of latest revision {latest.get('revid')} is hidden or missing")
    content = slot.get("content")
    if content is None:
        raise ValueError(f"latest revision {latest.get('revid')} has no content")
    current = _revision(latest)
    known = {r.rev_id for r in history}
    # An edit between the content and the history request: the history is the newer view, keep both.
    merged = sorted([*history, *([current] if current.rev_id not in known else [])], key=lambda r: r.rev_id)
    return WikiPage(
        page_id=int(raw["pageid"]),
        ns=int(raw.get("ns", 0)),
        title=str(raw["title"]),
        text=str(content),
        revisions=tuple(r for r in merged if r.rev_id <= current.rev_id),
        model=str(slot.get("contentmodel", "wikitext")),
    )


def is_ip(account: str) -> bool:
    """True for an IP address account (an edit made while logged out)."""
    try:
        ipaddress.ip_address(account)
    except ValueError:
        return False
    return True


def parse_timestamp(value: str) -> datetime:
    return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def format_timestamp(value: datetime) -> str:
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _complete_batches(api: MediaWikiApi, params: Params) -> Iterator[dict[str, Any]]:
    # Large content can split one batch over several responses (rvcontinue); a page is only complete
    # when the API says `batchcomplete`, so pages are merged by id and yielded then.
    pending: dict[int, dict[str, Any]] = {}
    for data in api.query(params):
        for page in data.get("query", {}).get("pages", []):
            key = int(page.get("pageid", 0)) or -len(pending) - 1
            seen = pending.setdefault(key, page)
            if seen is not page and page.get("revisions"):
                seen["revisions"] = page["revisions"]
        if data.get("batchcomplete"):
            yield from pending.values()
            pending = {}
    yield from pending.values()


def _revision(rev: dict[str, Any]) -> WikiRevision:
    user = None if rev.get("userhidden") else rev.get("user")
    parent = rev.get("parentid")
    return WikiRevision(
        rev_id=int(rev["revid"]),
        timestamp=parse_timestamp(str(rev["timestamp"])),
        parent_id=int(parent) if parent else None,
        user=str(user) if user else None,
        size=int(rev["size"]) if rev.get("size") is not None else None,
    )


def _describe(params: Params) -> str:
    parts = [str(params.get("action", "?"))]
    parts += [f"{k}={params[k]}" for k in ("list", "generator", "meta", "prop") if k in params]
    return " ".join(parts)
