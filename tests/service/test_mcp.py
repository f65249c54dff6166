"""The MCP server through the official SDK's client: over streamable HTTP against the app on loopback, and
over stdio against `whoknows mcp` in a child process. Every tool answers within the caller's ACL."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from service.mcp.tools import cut
from service.security.tokens import TokenStore
from tests.service.conftest import HR_MARKERS, STAFF_MARKERS, Running

TOOLS = {"search", "ask", "who_knows", "get_document", "get_person"}
T = TypeVar("T")


@asynccontextmanager
async def http_session(url: str, token: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
    ):
        yield client


def run(url: str, token: str | None, work: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with http_session(url, token) as client:
            return await work(client)

    return asyncio.run(main())


def seen(result: CallToolResult) -> str:
    """Everything a tool result shows the model, structured and as text."""
    assert not result.is_error, result.content
    return json.dumps(result.structured_content) + " ".join(getattr(c, "text", "") for c in result.content)


async def call_everything(client: Client) -> dict[str, Any]:
    """Each tool once, on a question the HR documents answer, plus the sources resource."""
    out: dict[str, Any] = {"tools": {t.name for t in (await client.list_tools()).tools}}
    out["resources"] = [str(r.uri) for r in (await client.list_resources()).resources]
    out["search"] = await client.call_tool("search", {"query": "salary bands pay review", "k": 10})
    out["ask"] = await client.call_tool("ask", {"question": "What does band L4 pay?"})
    out["who_knows"] = await client.call_tool("who_knows", {"topic": "who knows about salary bands?"})
    out["document"] = await client.call_tool("get_document", {"doc_id": "hr:salaries"})
    out["person"] = await client.call_tool("get_person", {"person_id": "handbook:hana"})
    out["backups"] = await client.call_tool("get_document", {"doc_id": "handbook:backups", "max_chars": 500})
    sources = await client.read_resource("whoknows://sources")
    out["sources"] = json.loads(sources.contents[0].text)  # type: ignore[union-attr]
    return out


@pytest.fixture(scope="module")
def hr_colleague(engine) -> str:  # type: ignore[no-untyped-def]
    """A token for someone in HR other than hana (an asker is never listed as an expert)."""
    return TokenStore(engine.state).create("ines", ["hr", "staff"], ["search", "ask", "experts"])[1]


def test_two_callers_see_what_their_groups_may_see(
    closed_server: Running, tokens: dict[str, str], hr_colleague: str
) -> None:
    hr = run(closed_server.url, hr_colleague, call_everything)
    staff = run(closed_server.url, tokens["staff"], call_everything)
    for result in (hr, staff):
        assert result["tools"] == TOOLS and result["resources"] == ["whoknows://sources"]
    # HR sees the salary bands everywhere they are asked about
    assert hr["search"].structured_content["results"][0]["doc_id"] == "hr:salaries"
    assert "71,000 and 84,000 euros" in seen(hr["ask"]) and hr["ask"].structured_content["confident"]
    assert hr["ask"].structured_content["citations"][0]["doc_id"] == "hr:salaries"
    assert hr["who_knows"].structured_content["people"][0]["person_id"] == "handbook:hana"
    assert "Salary bands 2026" in seen(hr["who_knows"])
    assert hr["document"].structured_content["text"].startswith("Band L4 pays")
    assert "Salary bands 2026" in seen(hr["person"])
    assert {s["source"] for s in hr["sources"]["sources"]} == {"handbook", "hr"}
    # staff gets answers too, never a word of HR's documents
    for name in ("search", "ask", "who_knows"):
        text = seen(staff[name])
        assert not any(m in text for m in HR_MARKERS), (name, text)
    assert "handbook:hana" not in {p["person_id"] for p in staff["who_knows"].structured_content["people"]}
    assert staff["search"].structured_content["results"], "staff sees the handbook's pages"
    assert staff["document"].is_error and "no such document" in staff["document"].content[0].text
    assert staff["person"].is_error and "no such person" in staff["person"].content[0].text
    assert [s["source"] for s in staff["sources"]["sources"]] == ["handbook"]
    backups = staff["backups"].structured_content
    assert backups["truncated"] is False and "35 days" in backups["text"]
    assert backups["contributors"][0]["name"] == "alice"


def test_long_texts_are_cut_at_a_word_and_say_so() -> None:
    text, truncated = cut("lorem ipsum " * 300, 500)
    assert truncated and len(text) <= 502 and text.endswith((" lorem …", " ipsum …"))
    assert cut("short", 500) == ("short", False)


def test_calls_without_a_token_are_refused_where_anonymous_is_off(
    closed_server: Running, open_server: Running
) -> None:
    # the SDK's client reports the refusal as an MCPError (without the status: the raw request shows it)
    with pytest.raises(BaseExceptionGroup) as refused:
        run(closed_server.url, None, lambda c: c.list_tools())
    assert refused.group_contains(MCPError, depth=None)
    r = httpx.post(
        closed_server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert r.status_code == 401 and r.json() == {"detail": "authentication required"}
    assert r.headers["www-authenticate"].startswith("Bearer")
    bad = httpx.post(
        closed_server.url + "/mcp", json={}, headers={"Authorization": "Bearer wk_000000000000_" + "x" * 43}
    )
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    # anonymous where it is on: public documents only
    anonymous = run(
        open_server.url, None, lambda c: c.call_tool("search", {"query": "postgres backups", "k": 10})
    )
    found = {r["doc_id"] for r in anonymous.structured_content["results"]}
    assert "handbook:backups" in found and not found & {
        "handbook:postmortem",
        "hr:salaries",
        "security:pentest",
    }


def test_scopes_and_bad_arguments_are_tool_errors_the_model_can_read(
    closed_server: Running, tokens: dict[str, str]
) -> None:
    async def work(client: Client) -> list[CallToolResult]:
        return [
            await client.call_tool("ask", {"question": "What does band L4 pay?"}),
            await client.call_tool("who_knows", {"topic": "salaries"}),
            await client.call_tool("search", {"query": "salary", "k": 0}),
            await client.call_tool("search", {"query": "x" * 5000}),
            await client.call_tool("search", {"query": "   "}),
            await client.call_tool("search", {"query": "salary bands"}),
        ]

    ask, experts, bad_k, too_long, blank, ok = run(closed_server.url, tokens["hr_search_only"], work)
    assert ask.is_error and "lacks the 'ask' scope" in ask.content[0].text
    assert experts.is_error and "lacks the 'experts' scope" in experts.content[0].text
    assert bad_k.is_error and "k" in bad_k.content[0].text
    assert (
        too_long.is_error and "query is 5000 characters long; the limit is 2000" in too_long.content[0].text
    )
    assert blank.is_error and "query is empty" in blank.content[0].text
    assert ok.structured_content["results"][0]["doc_id"] == "hr:salaries"


def test_browsers_from_other_sites_are_refused(closed_server: Running, tokens: dict[str, str]) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Authorization": f"Bearer {tokens['staff']}", "Accept": "application/json, text/event-stream"}
    evil = httpx.post(
        closed_server.url + "/mcp", json=request, headers={**headers, "Origin": "http://evil.example"}
    )
    assert evil.status_code == 403 and "cross-origin" in evil.json()["detail"]
    same = httpx.post(
        closed_server.url + "/mcp", json=request, headers={**headers, "Origin": closed_server.url}
    )
    assert same.status_code != 403, same.text


def test_tool_calls_are_counted_by_tool_and_outcome(closed_server: Running, tokens: dict[str, str]) -> None:
    async def work(client: Client) -> None:
        await client.call_tool("search", {"query": "kubernetes"})
        await client.call_tool("get_document", {"doc_id": "no:such"})
        assert (await client.call_tool("rm_rf", {})).is_error  # an unknown tool is counted, not its name

    registry = closed_server.app.state.metrics
    before = {
        (t, o): registry.tool_calls.labels(t, o)._value.get()
        for t, o in (("search", "ok"), ("get_document", "error"), ("<unknown>", "error"))
    }
    run(closed_server.url, tokens["staff"], work)
    after = {key: registry.tool_calls.labels(*key)._value.get() for key in before}
    assert {key: after[key] - before[key] for key in before} == {
        ("search", "ok"): 1,
        ("get_document", "error"): 1,
        ("<unknown>", "error"): 1,
    }


def stdio(home: Path, **env: str) -> StdioServerParameters:
    whoknows = Path(sys.executable).parent / "whoknows"
    base = {k: v for k, v in os.environ.items() if not k.startswith("WHOKNOWS_")}
    return StdioServerParameters(
        command=str(whoknows), args=["--home", str(home), "mcp"], env={**base, **env}
    )


@pytest.mark.slow
def test_stdio_server_answers_as_its_token(index_home: Path, hr_colleague: str) -> None:
    async def main() -> dict[str, Any]:
        async with Client(
            stdio(index_home, WHOKNOWS_MCP_TOKEN=hr_colleague), read_timeout_seconds=120
        ) as client:
            return await call_everything(client)

    hr = asyncio.run(main())
    assert hr["tools"] == TOOLS
    assert hr["search"].structured_content["results"][0]["doc_id"] == "hr:salaries"
    assert "71,000 and 84,000 euros" in seen(hr["ask"])
    assert hr["who_knows"].structured_content["people"][0]["person_id"] == "handbook:hana"
    assert hr["document"].structured_content["title"] == "Salary bands 2026"
    assert {s["source"] for s in hr["sources"]["sources"]} == {"handbook", "hr"}


@pytest.mark.slow
def test_stdio_server_refuses_to_start_without_an_identity(index_home: Path) -> None:
    import subprocess

    params = stdio(index_home, WHOKNOWS_ANONYMOUS="false")
    done = subprocess.run(
        [params.command, *params.args], env=params.env, capture_output=True, text=True, timeout=120
    )
    assert (
        done.returncode == 2
        and "authentication required" in done.stderr
        and "WHOKNOWS_MCP_TOKEN" in done.stderr
    )
    params = stdio(index_home, WHOKNOWS_MCP_TOKEN="wk_000000000000_" + "x" * 43)
    done = subprocess.run(
        [params.command, *params.args], env=params.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "invalid or revoked token" in done.stderr

    async def anonymous() -> CallToolResult:
        async with Client(stdio(index_home, WHOKNOWS_ANONYMOUS="true"), read_timeout_seconds=120) as client:
            return await client.call_tool("search", {"query": "salary bands pay review", "k": 10})

    public = seen(asyncio.run(anonymous()))
    assert "handbook:expenses" in public and not any(m in public for m in (*HR_MARKERS, *STAFF_MARKERS))
