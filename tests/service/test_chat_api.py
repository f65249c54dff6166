"""The OpenAI-compatible chat API through the `openai` client against the app on loopback: answers with
numbered sources, streamed and not, people for "who knows" questions, the caller's ACL, OpenAI's errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from service.api.chat_reply import md
from service.app import create_app
from service.security.tokens import TokenStore
from tests.service.conftest import HR_MARKERS, Running, serve, settings_for
from tests.service.openai_stub import Stub, openai_stub

QUESTION = "How long are Postgres backups kept?"


def client(server: Running, token: str | None) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=token or "none", max_retries=0, timeout=60)


def ask(chat: openai.OpenAI, question: str) -> tuple[str, dict[str, Any]]:
    done = chat.chat.completions.create(model="whoknows", messages=[{"role": "user", "content": question}])
    assert done.object == "chat.completion" and done.choices[0].finish_reason == "stop"
    return str(done.choices[0].message.content), (done.model_extra or {})["whoknows"]


def ask_streamed(chat: openai.OpenAI, question: str) -> tuple[str, list[Any]]:
    stream = chat.chat.completions.create(
        model="whoknows", stream=True, messages=[{"role": "user", "content": question}]
    )
    chunks = list(stream)
    return "".join(c.choices[0].delta.content or "" for c in chunks), chunks


def test_answer_with_numbered_sources_streamed_and_not(
    closed_server: Running, tokens: dict[str, str]
) -> None:
    chat = client(closed_server, tokens["staff"])
    assert [m.id for m in chat.models.list()] == ["whoknows"]
    text, extra = ask(chat, QUESTION)
    assert text.startswith("Postgres backups run nightly with pg_basebackup and are kept for 35 days. [1]")
    assert "\n\nSources:\n[1] [Postgres backups runbook](<https://intranet.example/backups>)" in text
    assert extra["kind"] == "answer" and extra["confident"] is True and extra["mode"] == "extractive"
    first = extra["citations"][0]
    assert first["n"] == 1 and first["doc_id"] == "handbook:backups" and "35 days" in first["quote"]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", text)} == {c["n"] for c in extra["citations"]}
    streamed, chunks = ask_streamed(chat, QUESTION)
    assert streamed == text  # the same answer, delivered in pieces
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].model_extra["whoknows"]["citations"][0]["doc_id"] == "handbook:backups"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["whoknows"] == extra
    assert len({c.id for c in chunks}) == 1 and all(c.object == "chat.completion.chunk" for c in chunks)


def test_who_knows_questions_return_people_with_their_evidence(
    closed_server: Running, tokens: dict[str, str], engine
) -> None:  # type: ignore[no-untyped-def]
    chat = client(closed_server, tokens["staff"])
    text, extra = ask(chat, "Who knows about kubernetes node pool upgrades?")
    people = extra["experts"]
    assert extra["kind"] == "people" and len(people) >= 2
    assert text.startswith(
        f"People who know about kubernetes node pool upgrades:\n\n1. **{people[0]['name']}**"
    )
    lines = text.split("\n\n")[1].splitlines()
    assert [line.split("**")[1] for line in lines] == [p["name"] for p in people]
    for line, person in zip(lines, people, strict=True):  # each names their evidence as numbered sources
        assert md(person["why"]) in line and line.endswith("".join(f"[{n}]" for n in person["sources"]))
    # a title's markup stays text: escaped for Markdown, never a live tag
    assert re.search(r"(?<!\\)<img", text) is None and "\\<img src=x onerror=alert\\(1\\)\\>" in text
    dave = next(p for p in people if p["person_id"] == "handbook:dave")  # an account outside the directory
    assert [c["doc_id"] for c in extra["citations"] if c["n"] in dave["sources"]] == ["handbook:k8s"]
    assert "[Kubernetes cluster upgrades](<https://intranet.example/k8s>)" in text
    streamed, chunks = ask_streamed(chat, "Who knows about kubernetes node pool upgrades?")
    assert streamed == text and chunks[-1].model_extra["whoknows"] == extra
    # without the experts scope the same words are answered as a question; without ask, not at all
    ask_only = TokenStore(engine.state).create("zoe", ["staff"], ["ask"])[1]
    _, answered = ask(client(closed_server, ask_only), "Who knows about kubernetes node pool upgrades?")
    assert answered["kind"] == "answer" and answered["citations"][0]["doc_id"] == "handbook:k8s"
    with pytest.raises(openai.PermissionDeniedError, match="lacks the 'ask' scope"):
        ask(client(closed_server, tokens["hr_search_only"]), "Who knows about kubernetes?")


def test_an_unanswerable_question_says_so_and_names_people(
    closed_server: Running, tokens: dict[str, str]
) -> None:
    chat = client(closed_server, tokens["staff"])
    text, extra = ask(chat, "What is the airspeed of an unladen swallow?")
    assert text.startswith("No confident answer in the documents; these colleagues know this area: ")
    named = text.split("know this area: ", 1)[1].split(".", 1)[0]
    assert extra["confident"] is False and extra["experts"]
    assert all(e["name"] in named for e in extra["experts"])
    streamed, _ = ask_streamed(chat, "What is the airspeed of an unladen swallow?")
    assert streamed == text


def test_each_caller_gets_their_own_acl(closed_server: Running, tokens: dict[str, str]) -> None:
    question = "What does salary band L4 pay?"
    hr_text, hr_extra = ask(client(closed_server, tokens["hr"]), question)
    staff_text, staff_extra = ask(client(closed_server, tokens["staff"]), question)
    assert "71,000 and 84,000 euros" in hr_text and hr_extra["citations"][0]["doc_id"] == "hr:salaries"
    assert not any(m in staff_text + str(staff_extra) for m in HR_MARKERS)
    people, extra = ask(client(closed_server, tokens["staff"]), "who knows about salary bands?")
    assert "hana" not in {e["person_id"] for e in extra["experts"]} and "Salary bands 2026" not in people


def test_errors_come_in_openais_shape(closed_server: Running, tokens: dict[str, str]) -> None:
    with pytest.raises(openai.AuthenticationError) as refused:
        client(closed_server, None).models.list()
    assert refused.value.status_code == 401 and refused.value.body["type"] == "authentication_error"  # type: ignore[index]
    chat = client(closed_server, tokens["staff"])
    with pytest.raises(openai.NotFoundError, match="The model `gpt-4o` does not exist"):
        chat.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="no user message with text"):
        chat.chat.completions.create(model="whoknows", messages=[{"role": "system", "content": "be brief"}])
    with pytest.raises(openai.BadRequestError, match="messages"):
        chat.chat.completions.create(model="whoknows", messages=[])
    with pytest.raises(openai.BadRequestError, match="the limit is 2000"):
        chat.chat.completions.create(model="whoknows", messages=[{"role": "user", "content": "x" * 2500}])
    r = httpx.post(
        closed_server.url + "/v1/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {tokens['staff']}", "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_earlier_turns_and_content_parts(closed_server: Running, tokens: dict[str, str]) -> None:
    """The last user message is the question, also when sent as content parts after other turns."""
    chat = client(closed_server, tokens["staff"])
    done = chat.chat.completions.create(
        model="whoknows",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Who approves travel?"},
            {"role": "assistant", "content": "Your manager."},
            {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
        ],
        temperature=0.2,
    )
    assert "kept for 35 days. [1]" in str(done.choices[0].message.content)


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    with openai_stub(hang_s=5) as s:
        yield s


def test_generative_answers_stream_through_and_a_failing_model_falls_back(
    engine, index_home, stub: Stub, tokens: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    for model, expected in (("good", "generative"), ("error500", "extractive")):
        settings = settings_for(index_home, anonymous=False, llm_base_url=stub.url, llm_model=model)
        with serve(create_app(settings, engine=engine)) as url:
            chat = openai.OpenAI(base_url=url + "/v1", api_key=tokens["staff"], max_retries=0)
            text, extra = ask(chat, QUESTION)
            streamed, chunks = ask_streamed(chat, QUESTION)
        assert extra["mode"] == expected, extra
        assert "35 days" in text and "\n\nSources:\n[1] [Postgres backups runbook]" in text
        final = chunks[-1].model_extra["whoknows"]
        assert final["mode"] == expected and final["citations"][0]["doc_id"] == "handbook:backups"
        if expected == "extractive":  # the stream had promised the model's answer: it says what happened
            assert "The language model stopped answering" in streamed and "35 days. [1]" in streamed
        else:
            assert streamed == text
