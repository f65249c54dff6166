"""schemathesis against the live OpenAPI schema: no generated request may get a 5xx.

The operations are driven with hypothesis directly (schemathesis' pytest plugin does not load under
this pytest); examples are bounded so the whole run stays well under a minute.
"""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.service.conftest import Running

MAX_EXAMPLES = 25


def operations(server: Running) -> list:  # type: ignore[type-arg]
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]


@pytest.mark.parametrize("as_user", ["anonymous", "staff-via-proxy"])
def test_no_generated_request_gets_a_5xx(open_server: Running, as_user: str) -> None:
    headers = {"X-Forwarded-User": "bob", "X-Forwarded-Groups": "staff"} if as_user != "anonymous" else {}
    session = requests.Session()
    seen: list[str] = []
    for operation in operations(open_server):

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(base_url=open_server.url, session=session, headers=headers, timeout=30)
            where = (case.method, case.formatted_path, case.query, response.status_code, response.text[:300])
            assert response.status_code < 500, where
            if response.status_code >= 400:  # the OpenAI-compatible routes answer in OpenAI's error shape
                assert ("error" if case.path.startswith("/v1/") else "detail") in response.json(), where

        run()
        seen.append(f"{operation.method.upper()} {operation.path}")
    assert {
        "GET /search",
        "GET /passages",
        "GET /documents/{doc_id}",
        "GET /sources",
        "GET /readyz",
        "POST /admin/reindex",
        "POST /v1/chat/completions",
    } <= set(seen)
