"""The WhoKnows MCP server (the official `mcp` SDK): five read-only tools and one resource, each answering
within the caller's ACL through the same functions as the REST API.

Tools: `search` (passages), `ask` (an answer with numbered citations), `who_knows` (people, with their
evidence and a why-line), `get_document`, `get_person`. Resource: `whoknows://sources` (the sources the
caller may see and how fresh the index is). Each tool needs the scope its REST twin needs (search, ask,
experts); a caller without it gets a tool error saying so, not an empty result.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import HTTPException
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from index.experts.finder import ExpertFilters, topic_of
from index.retrieval.hybrid import Filters
from index.store.browse import visible_document
from service.api.documents import sources_response
from service.api.experts import MAX_TEAM_CHARS, finder_of
from service.api.passages import find_passages
from service.asker import Asker
from service.deps import MAX_DOC_ID_CHARS, MAX_PERSON_ID_CHARS, checked_query
from service.engine import Engine
from service.mcp.identity import CallerMiddleware, CallerOf, is_admin, principal_for
from service.mcp.tools import (
    DOCUMENT_CHARS,
    AskResult,
    Document,
    Profile,
    SearchResults,
    WhoKnows,
    ask_result,
    document_result,
    profile_result,
    search_results,
    who_knows_result,
)
from service.ops.metrics import Metrics

SOURCES_URI = "whoknows://sources"
TOOLS = ("search", "ask", "who_knows", "get_document", "get_person")
MAX_RESULTS = 20  # per tool call: a model reads a handful, and each one costs context
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
INSTRUCTIONS = (
    "WhoKnows searches this company's intranet (wikis, handbooks, forums, mailing lists) and knows who "
    "wrote and answered what. Everything it returns is limited to what the signed-in user may see. Use "
    "`ask` for a direct answer with numbered citations, `search` for passages to read, `who_knows` to "
    "find colleagues who know a topic, then `get_document` or `get_person` for the details. Cite the "
    "documents' titles and links when you use them."
)


class ToolCallCounter:
    """MCP server middleware: counts tool calls by tool and outcome (whoknows_mcp_tool_calls_total)."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        name = (ctx.params or {}).get("name")
        tool = name if name in TOOLS else "<unknown>"  # bounded label values only
        try:
            result = await call_next(ctx)
        except Exception:
            self.metrics.tool_calls.labels(tool, "error").inc()
            raise
        # the handler's result arrives shaped for the wire (a dict); a model if a middleware made one
        failed = (
            result.get("isError") is True if isinstance(result, dict) else getattr(result, "is_error", False)
        )
        self.metrics.tool_calls.labels(tool, "error" if failed else "ok").inc()
        return result


def _checked(engine: Engine, name: str, text: str) -> str:
    """`text` within the query length limit and not blank, or a tool error naming the argument."""
    try:
        checked_query(engine.settings, name, text)
    except HTTPException as exc:
        raise ToolError(str(exc.detail)) from exc
    if not text.strip():
        raise ToolError(f"{name} is empty")
    return text


def build_mcp_server(
    engine: Engine, asker: Callable[[], Asker], caller_of: CallerOf, metrics: Metrics | None = None
) -> MCPServer:
    """The server for one engine; `caller_of` says who sent each message (HTTP gate or stdio token)."""
    middleware: list[Any] = [CallerMiddleware(caller_of)]
    if metrics is not None:
        middleware.append(ToolCallCounter(metrics))
    server: MCPServer = MCPServer(
        "whoknows",
        title="WhoKnows",
        instructions=INSTRUCTIONS,
        version=importlib.metadata.version("whoknows"),
        log_level="WARNING",
        middleware=middleware,
    )

    @server.tool(annotations=READ_ONLY)
    def search(
        query: Annotated[str, Field(description="what to look for, in plain words (no query syntax)")],
        k: Annotated[int, Field(ge=1, le=MAX_RESULTS, description="how many documents")] = 5,
        source: Annotated[str | None, Field(description="only this source (see whoknows://sources)")] = None,
    ) -> SearchResults:
        """Find passages in the intranet's documents for a question or a topic: the best passage of each
        matching document the user may see, best first. Read a whole document with get_document."""
        principal = principal_for("search")
        _checked(engine, "query", query)
        filters = Filters(sources=(source,)) if source else None
        return search_results(query, find_passages(engine, principal, query, k, "hybrid", filters))

    @server.tool(annotations=READ_ONLY)
    async def ask(
        question: Annotated[str, Field(description="a question in plain words")],
        k: Annotated[int, Field(ge=1, le=MAX_RESULTS, description="documents to draw the answer from")] = 5,
    ) -> AskResult:
        """Answer a question from the intranet's documents, each statement followed by its source [n]
        (listed in `citations`). When the documents do not answer it, `confident` is false and the answer
        names colleagues who know the area: say so rather than guessing."""
        principal = principal_for("ask")
        _checked(engine, "question", question)
        return ask_result(await asker().answer(question, principal, k))

    @server.tool(annotations=READ_ONLY)
    def who_knows(
        topic: Annotated[str, Field(description="a topic or a question, e.g. 'postgres replication'")],
        k: Annotated[int, Field(ge=1, le=MAX_RESULTS, description="how many people")] = 5,
        mentors_only: Annotated[bool, Field(description="only people who mentor (busy ones last)")] = False,
        team: Annotated[str | None, Field(max_length=MAX_TEAM_CHARS, description="only this team")] = None,
    ) -> WhoKnows:
        """Find colleagues who know a topic, best first, from what they wrote, answered and edited in the
        documents the user may see: each with a one-line why, their evidence documents, topics, last
        activity and whether they mentor. Use get_person for a full profile."""
        principal = principal_for("experts")
        _checked(engine, "topic", topic)
        filters = ExpertFilters(mentors_only=mentors_only, team=team or None)
        found = finder_of(engine).rank_experts(topic, principal, k=k, filters=filters)
        return who_knows_result(topic_of(topic), found)

    @server.tool(annotations=READ_ONLY)
    def get_document(
        doc_id: Annotated[str, Field(max_length=MAX_DOC_ID_CHARS, description="a doc_id from search")],
        max_chars: Annotated[
            int, Field(ge=500, le=200_000, description="cut the text here")
        ] = DOCUMENT_CHARS,
    ) -> Document:
        """A document's text, title, link, dates and contributors. A document that does not exist and one
        the user may not see give the same error."""
        view = visible_document(engine.reader, principal_for("search"), doc_id)
        if view is None:
            raise ToolError(f"no such document: {doc_id}")
        return document_result(view, max_chars)

    @server.tool(annotations=READ_ONLY)
    def get_person(
        person_id: Annotated[str, Field(max_length=MAX_PERSON_ID_CHARS, description="from who_knows")],
    ) -> Profile:
        """A colleague's profile: team, title, time zone, mentoring, topics and recent documents, from
        the work the user may see."""
        profile = finder_of(engine).profile(person_id, principal_for("experts"))
        if profile is None:
            raise ToolError(f"no such person: {person_id}")
        return profile_result(profile)

    @server.resource(
        SOURCES_URI,
        name="sources",
        title="Sources and their freshness",
        description="The sources the user may see, their document counts and last sync, and the index's age.",
        mime_type="application/json",
    )
    def sources() -> str:
        principal = principal_for("search", ResourceError)
        states = sources_response(engine, principal, is_admin(), engine.settings.stale_after_hours)
        return states.model_dump_json(indent=2)

    return server
