"""Property-based requests from llmrelay's own OpenAPI schema (schemathesis) against a real
server: whatever a client sends, it never gets a 500, a stack trace or a secret."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from tests.support.databases import create_postgres_database, drop_postgres_database
from tests.support.servers import serve
from tests.support.settings import make_settings

SECRET = "sk-secret-upstream-key-do-not-leak"

# The schema comes from the app itself; the requests go to a real server running it.
schema = schemathesis.openapi.from_dict(create_app(make_settings()).openapi())


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def base_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on each database: PostgreSQL refuses inputs (NUL…) that SQLite takes."""
    database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    postgres = None
    if request.param == "postgres":
        postgres, database_url = asyncio.run(create_postgres_database())
    provider = ScriptedProvider.replying("A short, harmless answer.")
    # openai_api_key is set (and unused by the scripted provider) so a leak would show.
    settings = make_settings(openai_api_key=SECRET, database_url=database_url)
    try:
        with serve(create_app(settings, provider=provider)) as url:
            yield url
    finally:
        if postgres is not None:
            asyncio.run(drop_postgres_database(postgres))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url, timeout=30)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    assert "Traceback" not in response.text
    assert SECRET not in response.text
    content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: lists of values
    if response.status_code >= 400 and content_type.startswith("application/json"):
        body = response.json()
        assert "detail" in body or "error" in body, body
