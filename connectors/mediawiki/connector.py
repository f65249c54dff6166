"""The `mediawiki` connector: wiki pages from XML export files or a live wiki's Action API, with editors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

from connectors.base import (
    Acl,
    ConnectorError,
    ConnectorFailure,
    Contribution,
    DocId,
    PersonRef,
    Role,
    SourceDocument,
)
from connectors.config import ConfigError, SourceConfig, SourceContext, parse_options, resolve_source_path
from connectors.mediawiki.api import (
    MediaWikiApi,
    MediaWikiApiError,
    RetryPolicy,
    changed_page_ids,
    fetch_pages,
    format_timestamp,
    is_ip,
    iter_all_pages,
    iter_page_ids,
    page_history,
    parse_timestamp,
    site_info,
    to_wiki_page,
)
from connectors.mediawiki.options import MediaWikiOptions
from connectors.mediawiki.wikitext import (
    CleanPage,
    WikiNamespaces,
    WikiPage,
    WikiRevision,
    clean_wikitext,
    plain_sections,
)
from connectors.mediawiki.xml_export import ExportError, PageProblem, SiteInfo, iter_export

Item = SourceDocument | ConnectorFailure


class MediaWikiConnector:
    """Pages of a MediaWiki, from `path` (export .xml/.xml.bz2 files or a folder) or `url` (api.php).

    Documents: one per non-redirect page in the configured namespaces, `doc_id` `<source>:<page id>`,
    `version` the latest revision id, sections split at headings, categories as tags. People: one
    Contribution per contributor per page: AUTHOR for the creating revision (one without a parent),
    EDITOR otherwise; `weight` is the bytes they changed summed over their revisions (a revision whose
    parent is not in view counts 1), at least 1; `at` is their latest revision. Edit counts are not
    kept. IP editors are accounts without a name; hidden or deleted users are skipped.

    Cursor: the ISO time of the newest revision seen (export files) or the wiki's clock at the run's
    start (live); it stays put when a file broke off or a page failed for a transient reason.
    """

    def __init__(
        self,
        name: str,
        *,
        options: MediaWikiOptions | None = None,
        acl: Acl | None = None,
        path: Path | None = None,
        api_url: str | None = None,
        timeout_s: float = 30.0,
        credentials: tuple[str, SecretStr] | None = None,
    ) -> None:
        if (path is None) == (api_url is None):
            raise ValueError("exactly one of path or api_url")
        self.name = name
        self._options = options or MediaWikiOptions()
        self._acl = acl or Acl()
        self._path = path
        self._api_url = api_url
        self._timeout_s = timeout_s
        self._credentials = credentials
        self._cursor: str | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> MediaWikiConnector:
        where = f"source {config.name!r}"
        options = parse_options(config, MediaWikiOptions, label="option")
        if (config.path is None) == (config.url is None):
            raise ConfigError(
                f"{where}: set exactly one of 'path' (export files) or 'url' (the wiki's api.php)"
            )
        path = resolve_source_path(config, context) if config.path is not None else None
        if config.url is not None and not config.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: field 'url': must be the http(s) URL of the wiki's api.php")
        user = context.secrets.get(f"{config.name}.username")
        password = context.secrets.get(f"{config.name}.password")
        if (user is None) != (password is None):
            raise ConfigError(f"{where}: secrets '{config.name}.username' and '.password' go together")
        credentials = (user.get_secret_value(), password) if user and password else None
        return cls(
            config.name,
            options=options,
            acl=config.acl,
            path=path,
            api_url=config.url,
            timeout_s=context.timeout_s,
            credentials=credentials,
        )

    @property
    def cursor(self) -> str | None:
        return self._cursor

    def load(self, since: str | None = None) -> Iterator[Item]:
        try:
            since_at = parse_timestamp(since) if since else None
        except ValueError as exc:
            raise ConnectorError(f"{self.name}: bad cursor {since!r}") from exc
        if self._path is not None:
            yield from self._load_export(self._path, since_at)
        else:
            yield from self._load_api(since_at)

    def list_ids(self) -> Iterator[DocId]:
        if self._path is not None:
            seen: set[int] = set()
            for file in self._export_files(self._path):
                try:
                    for item in iter_export(file, frozenset(self._options.namespaces), with_text=False):
                        page_id = getattr(item, "page_id", None)
                        if page_id is not None and page_id not in seen:
                            seen.add(page_id)
                            yield self._doc_id(page_id)
                except ExportError as exc:
                    raise ConnectorError(f"{self.name}: {exc}") from exc
            return
        with self._session() as api:
            for ns in self._options.namespaces:
                for page_id in iter_page_ids(api, ns):
                    yield self._doc_id(page_id)

    # -- export files ---------------------------------------------------------------------------

    def _load_export(self, root: Path, since: datetime | None) -> Iterator[Item]:
        newest, hold = since, False
        for file in self._export_files(root):
            template, names = self._url_template(), WikiNamespaces()
            try:
                for item in iter_export(file, frozenset(self._options.namespaces)):
                    if isinstance(item, SiteInfo):
                        names = WikiNamespaces.from_names(item.namespaces)
                        template = template or (_template_from_base(item.base) if item.base else None)
                    elif isinstance(item, PageProblem):
                        yield ConnectorFailure(
                            source=self.name,
                            error=f"{file}:{item.line}: page {item.title!r}: {item.reason}",
                            doc_id=self._doc_id(item.page_id) if item.page_id is not None else None,
                            path=str(file),
                        )
                    else:
                        latest = item.revisions[-1].timestamp
                        newest = latest if newest is None else max(newest, latest)
                        if since is None or latest > since:
                            yield self._document(item, _page_url(template, item.title), names)
            except ExportError as exc:
                hold = True
                yield ConnectorFailure(source=self.name, error=str(exc), path=str(file))
        chosen = since if hold else newest
        self._cursor = format_timestamp(chosen) if chosen else None

    def _export_files(self, root: Path) -> list[Path]:
        if root.is_file():
            return [root]
        if not root.is_dir():
            raise ConnectorError(f"{self.name}: {root} does not exist")
        files = sorted(p for p in root.rglob("*") if p.is_file() and _is_export_name(p.name))
        if not files:
            raise ConnectorError(f"{self.name}: no .xml or .xml.bz2 export files under {root}")
        return files

    # -- live API ---------------------------------------------------------------------------------

    def _load_api(self, since: datetime | None) -> Iterator[Item]:
        namespaces = self._options.namespaces
        hold = False
        with self._session() as api:
            site = site_info(api)
            raws: Iterator[dict[str, Any]]
            if since is None:
                raws = (p for ns in namespaces for p in iter_all_pages(api, ns, self._options.batch_size))
            else:
                start = since - timedelta(seconds=self._options.overlap_s)
                raws = fetch_pages(api, changed_page_ids(api, start, namespaces))
            template = self._url_template()
            for raw in raws:
                if raw.get("missing") or raw.get("invalid") or raw.get("redirect"):
                    continue
                if raw.get("ns") not in namespaces or "pageid" not in raw:
                    continue
                doc_id = self._doc_id(int(raw["pageid"]))
                try:
                    page = to_wiki_page(raw, self._history(api, raw))
                except MediaWikiApiError as exc:
                    hold = True
                    yield ConnectorFailure(source=self.name, error=str(exc), doc_id=doc_id)
                    continue
                except (ValueError, KeyError, TypeError) as exc:
                    yield ConnectorFailure(
                        source=self.name, error=f"page {raw.get('title')!r}: {exc}", doc_id=doc_id
                    )
                    continue
                url = _page_url(template or site.article_url, page.title)
                yield self._document(page, url, site.namespaces)
        chosen = since if hold else max(site.server_time, since or site.server_time)
        self._cursor = format_timestamp(chosen) if chosen else None

    @staticmethod
    def _history(api: MediaWikiApi, raw: dict[str, Any]) -> list[WikiRevision]:
        latest = (raw.get("revisions") or [{}])[-1]
        if latest.get("parentid") == 0:  # a page with one revision: it is its own history
            return []
        return page_history(api, int(raw["pageid"]))

    @contextmanager
    def _session(self) -> Iterator[MediaWikiApi]:
        assert self._api_url is not None
        options = self._options
        retry = RetryPolicy(options.max_retries, options.backoff_s, options.max_wait_s)
        with MediaWikiApi(
            self._api_url, timeout_s=self._timeout_s, retry=retry, maxlag_s=options.maxlag_s
        ) as api:
            if self._credentials is not None:
                api.login(*self._credentials)
            yield api

    # -- mapping ----------------------------------------------------------------------------------

    def _document(self, page: WikiPage, url: str | None, names: WikiNamespaces) -> Item:
        doc_id = self._doc_id(page.page_id)
        try:
            clean = (
                clean_wikitext(page.text, names)
                if page.model == "wikitext"
                else CleanPage(sections=plain_sections(page.text))
            )
        except Exception as exc:  # the wikitext parser's failure on one page must not end the run
            return ConnectorFailure(source=self.name, error=f"page {page.title!r}: {exc!r}", doc_id=doc_id)
        return SourceDocument(
            doc_id=doc_id,
            source=self.name,
            kind="wiki",
            title=page.title,
            url=url,
            sections=clean.sections,
            created_at=page.revisions[0].timestamp,
            updated_at=page.revisions[-1].timestamp,
            version=str(page.revisions[-1].rev_id),
            acl=self._acl,
            contributions=page_contributions(page.revisions),
            tags=clean.categories,
        )

    def _doc_id(self, page_id: int) -> DocId:
        return f"{self.name}:{page_id}"

    def _url_template(self) -> str | None:
        base = self._options.url_base
        if base is None:
            return None
        return base if "$1" in base else base + "$1"


def page_contributions(revisions: tuple[WikiRevision, ...]) -> list[Contribution]:
    """One contribution per contributor: role, bytes changed (at least 1), latest time."""
    changed: dict[str, int] = {}
    latest: dict[str, datetime] = {}
    author: str | None = None
    previous: int | None = None
    for index, rev in enumerate(revisions):
        if index == 0:
            delta = rev.size if rev.parent_id is None else None  # a creation adds the whole page
        else:
            delta = abs(rev.size - previous) if rev.size is not None and previous is not None else None
        previous = rev.size
        if rev.user is None:
            continue
        if index == 0 and rev.parent_id is None:
            author = rev.user
        changed[rev.user] = changed.get(rev.user, 0) + (delta or 0)
        latest[rev.user] = max(latest.get(rev.user, rev.timestamp), rev.timestamp)
    people = [
        Contribution(
            person=PersonRef(account=user, name=_display_name(user)),
            role=Role.AUTHOR if user == author else Role.EDITOR,
            at=latest[user],
            weight=float(max(1, changed[user])),
        )
        for user in changed
    ]
    return sorted(people, key=lambda c: (c.role != Role.AUTHOR, -c.weight, c.person.account))


def _display_name(account: str) -> str | None:
    if is_ip(account):
        return None
    # Imported revisions carry `prefix>User` (the wiki they came from); the name is the part after it.
    return account.rpartition(">")[2] or account


def _is_export_name(name: str) -> bool:
    # Wikimedia names split dumps `...pages-articles1.xml-p10p30302.bz2`: .xml is inside the name.
    return name.endswith(".xml") or (name.endswith(".bz2") and ".xml" in name)


def _template_from_base(base: str) -> str:
    """The article URL pattern from siteinfo's main page URL: its title replaced by `$1`."""
    head, sep, query = base.partition("?")
    if sep and "title=" in query:
        params = [("title=$1" if p.startswith("title=") else p) for p in query.split("&")]
        return head + "?" + "&".join(params)
    return base.rsplit("/", 1)[0] + "/$1"


def _page_url(template: str | None, title: str) -> str | None:
    if template is None:
        return None
    return template.replace("$1", quote(title.replace(" ", "_"), safe=";@$!*(),/~:"))
