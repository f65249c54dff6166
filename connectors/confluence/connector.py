"""The `confluence` connector: a Confluence space, one document per page, from an HTML export or the REST API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx

from connectors.base import Acl, ConnectorError, ConnectorFailure, DocId, SourceDocument, to_utc
from connectors.config import ConfigError, SourceConfig, SourceContext, parse_options, resolve_source_path
from connectors.confluence.api import ApiReader
from connectors.confluence.export import PageError, PageFile, page_files, parse_export_page, sniff_page_date
from connectors.confluence.options import ConfluenceOptions


class ConfluenceConnector:
    """Pages of one space; ids are `<source>:<pageId>` in both modes, the cursor an ISO UTC time."""

    def __init__(
        self,
        name: str,
        options: ConfluenceOptions,
        acl: Acl,
        *,
        folder: Path | None = None,
        url: str | None = None,
        auth: httpx.Auth | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if (folder is None) == (url is None):
            raise ValueError("a confluence source reads either an export folder or a REST base URL")
        self.name = name
        self._options = options
        self._acl = acl
        self._folder = folder
        self._api: ApiReader | None = None
        if url is not None:
            self._api = ApiReader(name, url, options, acl, auth=auth, headers=headers, timeout_s=timeout_s)
        self._cursor: str | None = None

    @classmethod
    def from_config(cls, config: SourceConfig, context: SourceContext) -> ConfluenceConnector:
        where = f"source {config.name!r}"
        if (config.path is None) == (config.url is None):
            raise ConfigError(
                f"{where}: give either 'path' (an HTML space export) or 'url' (the REST base URL)"
            )
        options = parse_options(config, ConfluenceOptions)
        if config.path is not None:
            folder = resolve_source_path(config, context, kind="folder")
            return cls(config.name, options, config.acl, folder=folder)
        url = str(config.url).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: field 'url': {url!r} is not an http(s) URL")
        user = context.secrets.get(f"{config.name}.username")
        token = context.secrets.get(f"{config.name}.token")
        auth: httpx.Auth | None = None
        headers: dict[str, str] = {}
        if user is not None and token is not None:  # Cloud: e-mail + API token; Server: user + password
            auth = httpx.BasicAuth(user.get_secret_value(), token.get_secret_value())
        elif token is not None:  # Server/Data Center personal access token
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        return cls(
            config.name, options, config.acl, url=url, auth=auth, headers=headers, timeout_s=context.timeout_s
        )

    @property
    def cursor(self) -> str | None:
        return self._api.cursor if self._api is not None else self._cursor

    def load(self, since: str | None = None) -> Iterator[SourceDocument | ConnectorFailure]:
        since_at = _parse_cursor(since)
        if self._api is not None:
            yield from self._api.load(since_at)
        elif self._folder is not None:
            yield from self._load_export(self._folder, since, since_at)

    def list_ids(self) -> Iterator[DocId]:
        if self._api is not None:
            yield from (f"{self.name}:{page_id}" for page_id in self._api.list_ids())
            return
        assert self._folder is not None
        if not self._folder.is_dir():
            raise ConnectorError(f"{self._folder}: the export folder is gone")
        ids = {f.page_id for f in page_files(self._folder) if f.page_id is not None}
        yield from (f"{self.name}:{page_id}" for page_id in sorted(ids))

    def _load_export(
        self, folder: Path, since: str | None, since_at: datetime | None
    ) -> Iterator[SourceDocument | ConnectorFailure]:
        """Every page file is read; with a cursor, pages dated before its day are skipped (export dates are
        days, so the cursor's own day is read again). The cursor is the newest page date."""
        if not folder.is_dir():
            raise ConnectorError(f"{folder}: the export folder is gone")
        day = since_at.date() if since_at is not None else None
        latest = since_at
        seen: dict[str, str] = {}
        for page in page_files(folder):
            where = page.path.name
            if page.page_id is not None and page.page_id in seen:
                yield self._failure(page, f"page id {page.page_id} again (first in {seen[page.page_id]})")
                continue
            try:
                raw = page.path.read_bytes()
                sniffed = sniff_page_date(raw) if day is not None else None
                if day is not None and sniffed is not None and sniffed.date() < day:
                    continue
                doc = parse_export_page(
                    raw, page, source=self.name, acl=self._acl, url_base=self._options.url_base
                )
            except OSError as exc:
                yield self._failure(page, f"cannot read: {exc.strerror or exc}")
                continue
            except PageError as exc:
                yield self._failure(page, str(exc))
                continue
            if page.page_id is not None:
                seen[page.page_id] = where
            if doc.updated_at is not None and (latest is None or doc.updated_at > latest):
                latest = doc.updated_at
            if day is not None and doc.updated_at is not None and doc.updated_at.date() < day:
                continue
            yield doc
        self._cursor = latest.isoformat() if latest is not None else since

    def _failure(self, page: PageFile, error: str) -> ConnectorFailure:
        doc_id = f"{self.name}:{page.page_id}" if page.page_id is not None else None
        return ConnectorFailure(
            source=self.name, error=f"{page.path.name}: {error}", path=str(page.path), doc_id=doc_id
        )


def _parse_cursor(since: str | None) -> datetime | None:
    if not since:
        return None
    try:
        return to_utc(datetime.fromisoformat(since.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ConnectorError(f"cursor {since!r} is not an ISO date") from exc


# --- what a page's REST answer means: who may read it, who wrote it ---------------------------------
