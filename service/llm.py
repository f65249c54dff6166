"""The language model client: any OpenAI-compatible chat endpoint through LangChain's chat-model interface.

Every failure (unreachable, too slow, an HTTP error, an empty reply) becomes one `LLMUnavailable` with a
reason a person can read, so the caller can fall back to the extractive answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from index.answers.prompt import Message
from service.settings import Settings

# OpenAI's client insists on a key; local servers (Ollama, vLLM, llama.cpp) ignore whatever is sent.
NO_KEY = "not-needed"
DEFAULT_MODEL = "default"  # llama.cpp's server answers with its one model whatever the name


class LLMUnavailable(Exception):
    """The model gave no usable answer; `reason` says why (and becomes the answer's fallback_reason)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    model: str
    api_key: str
    timeout_s: float
    max_tokens: int = 400
    temperature: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LLMConfig | None:
        """None when no endpoint is configured: answers stay extractive."""
        if not settings.llm_base_url:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else NO_KEY
        return cls(settings.llm_base_url, settings.llm_model or DEFAULT_MODEL, key, settings.llm_timeout_s)


def _messages(messages: Sequence[Message]) -> list[BaseMessage]:
    return [SystemMessage(m.content) if m.role == "system" else HumanMessage(m.content) for m in messages]


def _reason(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return f"the language model did not answer within {timeout_s:g} s"
    if isinstance(exc, openai.APIStatusError):
        return f"the language model answered HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        return "the language model is unreachable"
    return f"the language model failed: {type(exc).__name__}"


class ChatClient:
    """One chat model per process; `complete` and `stream` both end within `timeout_s` or raise."""

    def __init__(self, config: LLMConfig, model: BaseChatModel | None = None):
        self.config = config
        self._given = model

    @asynccontextmanager
    async def _model(self) -> AsyncIterator[BaseChatModel]:
        """The chat model for one call. Its HTTP client is made and closed here: a pooled connection
        belongs to the event loop that opened it, and the CLI and tests run more than one loop."""
        if self._given is not None:
            yield self._given
            return
        c = self.config
        http = openai.DefaultAsyncHttpxClient()
        try:
            yield ChatOpenAI(
                base_url=c.base_url,
                api_key=c.api_key,  # type: ignore[arg-type]
                model=c.model,
                timeout=c.timeout_s,
                max_retries=0,  # a retry would double the wait before the fallback
                # `max_tokens`, not `max_completion_tokens`: llama.cpp's and older vLLM servers read only
                # the former (and a 270M model then wrote 3,500 tokens); OpenAI still accepts it.
                extra_body={"max_tokens": c.max_tokens},
                temperature=c.temperature,
                http_async_client=http,
            )
        finally:
            await http.aclose()

    async def complete(self, messages: Sequence[Message]) -> str:
        try:
            async with asyncio.timeout(self.config.timeout_s), self._model() as model:
                reply = await model.ainvoke(_messages(messages))
        except (TimeoutError, openai.APIError) as exc:
            raise LLMUnavailable(_reason(exc, self.config.timeout_s)) from exc
        text = reply.text if isinstance(reply.text, str) else str(reply.content)
        if not text.strip():
            raise LLMUnavailable("the language model returned an empty reply")
        return text

    async def stream(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        """Text deltas as they arrive; the whole reply must arrive within `timeout_s`."""
        deadline = asyncio.get_running_loop().time() + self.config.timeout_s
        got_text = False
        try:
            async with self._model() as model:
                iterator = model.astream(_messages(messages)).__aiter__()
                try:
                    while True:
                        try:
                            async with asyncio.timeout_at(deadline):
                                chunk = await iterator.__anext__()
                        except StopAsyncIteration:
                            break
                        text = chunk.text if isinstance(chunk.text, str) else str(chunk.content)
                        if text:
                            got_text = True
                            yield text
                finally:
                    aclose = getattr(iterator, "aclose", None)
                    if aclose is not None:
                        await aclose()
        except (TimeoutError, openai.APIError) as exc:
            raise LLMUnavailable(_reason(exc, self.config.timeout_s)) from exc
        if not got_text:
            raise LLMUnavailable("the language model returned an empty reply")
