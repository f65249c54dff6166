"""POST /ask and POST /ask/stream (Server-Sent Events): grounded answers within the caller's ACL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from index.answers.grounding import Citation, ExpertRef
from service.asker import answer_dict
from service.deps import AskerDep, PrincipalDep, SettingsDep, checked_query
from service.settings import Settings

router = APIRouter()
# Documents an answer draws passages from: more only slows sentence scoring (AnswerSettings caps passages).
MAX_K = 20


class AskRequest(BaseModel):
    question: Annotated[str, Field(min_length=1, description="a question in plain words")]
    k: Annotated[int, Field(ge=1, le=MAX_K, description="documents to draw passages from")] = 5


class AnswerResponse(BaseModel):
    question: str
    answer: str
    mode: str = Field(description="extractive or generative")
    confident: bool
    score: float = Field(description="score of the best evidence sentence")
    citations: list[Citation]
    experts: list[ExpertRef]
    fallback_reason: str | None = Field(description="why a configured language model was not used")
    removed_citations: list[int] = Field(description="citation numbers the model invented, removed")
    warnings: list[str]


def _checked(settings: Settings, body: AskRequest) -> str:
    checked_query(settings, "question", body.question)
    if not body.question.strip():
        raise HTTPException(422, "question is empty")
    return body.question


@router.post("/ask", response_model=AnswerResponse, tags=["answers"])
async def ask(
    body: AskRequest, settings: SettingsDep, asker: AskerDep, principal: PrincipalDep
) -> AnswerResponse:
    question = _checked(settings, body)
    answer = await asker.answer(question, principal, body.k)
    return AnswerResponse.model_validate(answer_dict(answer))


@router.post(
    "/ask/stream",
    tags=["answers"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "sources, delta…, done | error"}},
)
async def ask_stream(
    body: AskRequest, settings: SettingsDep, asker: AskerDep, principal: PrincipalDep
) -> StreamingResponse:
    question = _checked(settings, body)

    async def events() -> AsyncIterator[bytes]:
        async for event in asker.stream(question, principal, body.k):
            yield event.encode()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
