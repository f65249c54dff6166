"""A small OpenAI-compatible server on loopback: POST /v1/chat/completions, streaming and not, replaying the
recorded replies of openai_replies.json. The request's `model` picks the scenario: good, invented,
error500, or hang (answers nothing for `hang_s`)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

REPLIES = json.loads((Path(__file__).parent / "openai_replies.json").read_text(encoding="utf-8"))


@dataclass
class Stub:
    url: str  # base URL as clients configure it, ending in /v1
    requests: list[dict[str, Any]] = field(default_factory=list)


def build_app(stub: Stub, hang_s: float) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Response:
        body = await request.json()
        stub.requests.append(body)
        scenario = body.get("model", "good")
        if scenario == "hang":
            await asyncio.sleep(hang_s)
            scenario = "good"
        recorded = REPLIES.get(scenario)
        if recorded is None:
            error = {
                "message": f"The model `{scenario}` does not exist",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
            return JSONResponse({"error": error}, status_code=404)
        if "status" in recorded:
            return JSONResponse(recorded["body"], status_code=recorded["status"])
        if not body.get("stream"):
            return JSONResponse(recorded["completion"])

        async def events() -> AsyncIterator[bytes]:
            for chunk in recorded["chunks"]:
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                await asyncio.sleep(0.01)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def openai_stub(hang_s: float = 30.0) -> Iterator[Stub]:
    """The stub served by uvicorn on 127.0.0.1 in a thread, on a free port."""
    port = _free_port()
    stub = Stub(url=f"http://127.0.0.1:{port}/v1")
    config = uvicorn.Config(
        build_app(stub, hang_s),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=f"openai-stub-{port}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the OpenAI stub did not start")
        time.sleep(0.02)
    try:
        yield stub
    finally:
        server.should_exit = True
        thread.join(timeout=10)
