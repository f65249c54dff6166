"""OpenAI-compatible chat: POST /v1/chat/completions (streaming and not) and GET /v1/models, so Open WebUI,
LibreChat or any OpenAI client can use WhoKnows as a model.

The last user message is the question; earlier turns and system prompts are not used (each question is
answered from the documents on its own). A "who knows X" question returns people (the expert finder)
when the caller has the experts scope; anything else is answered as /ask answers it, extractive or from
the configured language model, and an unanswerable question says so and names colleagues. The text
carries numbered sources ([n], then a `Sources:` list); the same content, structured, is in the extra
field `whoknows` (chat_reply.WhoKnowsExtra): on the completion, and on a stream's first chunk (the
sources) and last chunk (everything). Chunks sent cannot be taken back: when a language model fails
mid-stream, the stream goes on with a note and the extractive answer. The caller's identity is the API's: `Authorization: Bearer
<WhoKnows token>` (an OpenAI client's api_key), or a trusted proxy's headers, or anonymous. Errors have
OpenAI's shape, `{"error": {"message", "type", "code"}}`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from index.acl import Principal
from index.experts.finder import topic_of
from service.api.chat_reply import (
    EXPERTS_PER_REPLY,
    WhoKnowsExtra,
    answer_extra,
    people_reply,
    sources_block,
    sources_extra,
)
from service.api.experts import finder_of
from service.asker import StreamEvent, answer_dict
from service.deps import AskerDep, EngineDep, PrincipalDep, checked_query
from service.engine import Engine
from service.security.auth import identify

router = APIRouter(prefix="/v1", tags=["openai"])
OPENAI_PREFIX = "/v1/"
MODEL_ID = "whoknows"
ANSWER_DOCUMENTS = 5  # as /ask's default k
MAX_MESSAGES = 500
FALLBACK_NOTE = "\n\n(The language model stopped answering; this is the answer from the documents.)\n\n"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI's request; sampling parameters (temperature, max_tokens…) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1, description="one choice per request")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: None = None
    whoknows: WhoKnowsExtra


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "whoknows"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def openai_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error as OpenAI's clients parse it."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    code = {401: "invalid_api_key", 404: "model_not_found"}.get(status)
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=400 if status == 422 else status, headers=headers)


def _question(engine: Engine, body: ChatRequest) -> str:
    if body.model != MODEL_ID:
        raise HTTPException(404, f"The model `{body.model}` does not exist; use `{MODEL_ID}`")
    asked = [m for m in body.messages if m.role == "user" and m.text().strip()]
    if not asked:
        raise HTTPException(400, "messages: no user message with text; the last one is the question")
    return checked_query(engine.settings, "the last user message", asked[-1].text().strip())


def _asks_for_people(request: Request, question: str) -> bool:
    return topic_of(question) != question and "experts" in identify(request).scopes


class Reply:
    """One completion's id, time and model name, and its chunks as Server-Sent Events."""

    def __init__(self) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def completion(self, content: str, extra: WhoKnowsExtra) -> ChatCompletion:
        choice = Choice(message=AssistantMessage(content=content))
        return ChatCompletion(
            id=self.id, created=self.created, model=MODEL_ID, choices=[choice], whoknows=extra
        )

    def chunk(
        self, delta: dict[str, str], finish: str | None = None, extra: WhoKnowsExtra | None = None
    ) -> bytes:
        data: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": MODEL_ID,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if extra is not None:
            data["whoknows"] = extra.model_dump()
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


DONE = b"data: [DONE]\n\n"


async def _people(engine: Engine, principal: Principal, question: str) -> tuple[str, WhoKnowsExtra]:
    found = await asyncio.to_thread(finder_of(engine).rank_experts, question, principal, k=EXPERTS_PER_REPLY)
    return people_reply(topic_of(question), found)


async def _answer_events(reply: Reply, events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """The Asker's stream (sources, delta…, done | error) as OpenAI chunks."""
    mode = "extractive"
    async for event in events:
        if event.event == "sources":
            mode = event.data["mode"]
            yield reply.chunk(
                {"role": "assistant", "content": ""}, extra=sources_extra(mode, event.data["sources"])
            )
        elif event.event == "delta":
            yield reply.chunk({"content": event.data["text"]})
        elif event.event == "done":
            extra = answer_extra(event.data)
            tail = sources_block(extra.citations)
            if event.data["mode"] != mode:  # the model failed mid-answer: the extractive answer follows
                tail = FALLBACK_NOTE + event.data["answer"] + tail
            yield reply.chunk({"content": tail})
            yield reply.chunk({}, finish="stop", extra=extra)
        else:
            error = {"message": event.data.get("detail", "the answer failed"), "type": "server_error"}
            yield f"data: {json.dumps({'error': error})}\n\n".encode()
    yield DONE


async def _people_events(reply: Reply, content: str, extra: WhoKnowsExtra) -> AsyncIterator[bytes]:
    yield reply.chunk({"role": "assistant", "content": ""}, extra=extra)
    yield reply.chunk({"content": content})
    yield reply.chunk({}, finish="stop", extra=extra)
    yield DONE


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "a completion, or chunks when stream"}
    },
)
async def chat_completions(
    body: ChatRequest, request: Request, engine: EngineDep, asker: AskerDep, principal: PrincipalDep
) -> Any:
    question = _question(engine, body)
    reply = Reply()
    events: AsyncIterator[bytes]
    if _asks_for_people(request, question):
        content, extra = await _people(engine, principal, question)
        if not body.stream:
            return reply.completion(content, extra)
        events = _people_events(reply, content, extra)
    elif not body.stream:
        answer = await asker.answer(question, principal, ANSWER_DOCUMENTS)
        extra = answer_extra(answer_dict(answer))
        return reply.completion(answer.answer + sources_block(extra.citations), extra)
    else:
        events = _answer_events(reply, asker.stream(question, principal, ANSWER_DOCUMENTS))
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/models", response_model=ModelList)
def models() -> ModelList:
    """The one model: WhoKnows answering from the documents the caller may see. `created` is 0: the
    index's build time would tell a caller when hidden content changed."""
    return ModelList(data=[ModelCard(id=MODEL_ID, created=0)])
