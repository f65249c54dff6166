"""What every route depends on, as `Annotated` aliases: the engine, the caller's principal, and the one
check every free-text query passes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

from index.acl import Principal
from service.asker import Asker, build_asker
from service.engine import Engine
from service.security.auth import principal_from_request
from service.settings import Settings

# Identifiers in paths: a document id is `<source>:<native id>` (native ids can be long file paths or
# URLs); person ids are short slugs.
MAX_DOC_ID_CHARS = 2048
MAX_PERSON_ID_CHARS = 300


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def asker_of_app(app: FastAPI) -> Asker:
    """One Asker per app, built on first use (the model client and expert finder are reused); /ask, the
    chat API and the MCP tools share it."""
    asker: Asker | None = getattr(app.state, "asker", None)
    if asker is None:
        asker = app.state.asker = build_asker(app.state.engine, app.state.settings)
    return asker


def asker_of(request: Request) -> Asker:
    return asker_of_app(request.app)


EngineDep = Annotated[Engine, Depends(engine_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
PrincipalDep = Annotated[Principal, Depends(principal_from_request)]
AskerDep = Annotated[Asker, Depends(asker_of)]


def checked_query(settings: Settings, name: str, text: str) -> str:
    """`text` if it is within `settings.max_query_chars`, else 422 naming the field and the limit."""
    limit = settings.max_query_chars
    if len(text) > limit:
        raise HTTPException(
            status_code=422, detail=f"{name} is {len(text)} characters long; the limit is {limit}"
        )
    return text
