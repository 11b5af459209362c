"""Keys fail closed: with keys in force, every route of the app needs one, except those whose
endpoint is marked `@auth.open_route`. The routes are read from the app itself, so a route added
later (even under a prefix nobody thought of) is covered without editing this test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from llmrelay.app import create_app
from llmrelay.auth import is_open
from llmrelay.providers.scripted import ScriptedProvider
from tests.support.servers import serve
from tests.support.settings import make_settings

KEY = "sk-test-fail-closed"


def keyed_app(provider: ScriptedProvider) -> FastAPI:
    app = create_app(make_settings(api_keys=KEY), provider=provider)

    # A route under a prefix no one listed anywhere: it must need a key too.
    @app.get("/brand-new/{thing}")
    async def brand_new(thing: str) -> dict[str, str]:
        return {"thing": thing}

    return app


@pytest.fixture(scope="module")
def keyed() -> Iterator[tuple[FastAPI, str, ScriptedProvider]]:
    provider = ScriptedProvider.replying("secret answer")
    app = keyed_app(provider)
    with serve(app) as url:
        yield app, url, provider


def api_routes(routes: list[Any]) -> Iterator[tuple[str, APIRoute]]:
    """(full path template, route) for every API route, however deep routers are included."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path, route
        elif hasattr(route, "effective_route_contexts"):  # FastAPI's included routers
            for context in route.effective_route_contexts():
                if isinstance(context.original_route, APIRoute):
                    yield context.path, context.original_route


def guarded_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for template, route in api_routes(app.routes):
        if not is_open(route.endpoint):
            # Fill every path parameter with something that names nothing.
            path = re.sub(r"\{[^}]+\}", "x", template)
            found.extend((method, path) for method in sorted(route.methods))
    return found


def test_every_route_but_the_open_ones_needs_a_key(keyed: tuple[FastAPI, str, ScriptedProvider]) -> None:
    app, url, provider = keyed
    routes = guarded_routes(app)
    # The walk found the app's real routes, and the one added outside every known prefix.
    assert ("GET", "/brand-new/x") in routes
    assert ("POST", "/v1/chat/completions") in routes
    assert ("POST", "/api/chat") in routes
    assert len(routes) >= 15
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer not-the-key"}):
            response = httpx.request(method, f"{url}{path}", json={}, headers=headers)
            assert response.status_code == 401, (method, path, response.status_code, response.text)
            assert "secret answer" not in response.text
            assert response.headers["www-authenticate"] == "Bearer"
    assert provider.requests == []


def test_with_the_key_the_new_route_answers(keyed: tuple[FastAPI, str, ScriptedProvider]) -> None:
    _, url, _ = keyed
    response = httpx.get(f"{url}/brand-new/x", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    assert response.json() == {"thing": "x"}


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics", "/openapi.json", "/docs", "/static/app.js"])
def test_the_open_list_stays_open(keyed: tuple[FastAPI, str, ScriptedProvider], path: str) -> None:
    _, url, _ = keyed
    assert httpx.get(f"{url}{path}").status_code == 200


def test_the_open_list_is_small_and_explicit(keyed: tuple[FastAPI, str, ScriptedProvider]) -> None:
    # Marking a route open opens it to anyone: it should take a reason and a review.
    app, _, _ = keyed
    open_paths = {template for template, route in api_routes(app.routes) if is_open(route.endpoint)}
    assert open_paths == {"/", "/healthz", "/metrics"}
