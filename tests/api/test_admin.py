"""The admin API (/admin): only admin keys; each action is visible through `llmrelay keys` too."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from llmrelay.store import Store
from tests.support.environment import subprocess_env
from tests.support.servers import serve
from tests.support.settings import make_settings


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def cli(*args: str, database: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(LLMRELAY_DATABASE_URL=database)
    return subprocess.run(
        [sys.executable, "-m", "llmrelay", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def admin_server(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    database = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    made = cli("keys", "create", "ops", "--admin", database=database, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    admin_key = made.stdout.strip().splitlines()[-1]
    settings = make_settings(database_url=database, api_keys="sk-env-operator-key-0123456789")
    with serve(create_app(settings, provider=ScriptedProvider.replying("one two"))) as url:
        yield url, admin_key, database


def test_only_admin_keys_see_the_admin_api(admin_server: tuple[str, str, str]) -> None:
    url, admin_key, _ = admin_server
    made = httpx.post(f"{url}/admin/keys", json={"name": "app", "rpm": 5}, headers=auth(admin_key))
    assert made.status_code == 201, made.text
    ordinary = made.json()["key"]
    for key in (ordinary, "sk-env-operator-key-0123456789"):
        for method, path in (
            ("GET", "/admin/keys"),
            ("POST", "/admin/keys"),
            ("GET", f"/admin/keys/{made.json()['id']}"),
            ("PATCH", f"/admin/keys/{made.json()['id']}"),
            ("DELETE", f"/admin/keys/{made.json()['id']}"),
            ("GET", "/admin/usage"),
        ):
            answer = httpx.request(method, f"{url}{path}", json={"name": "x"}, headers=auth(key))
            # Exactly what a route that does not exist answers.
            assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"}), (method, path)
    assert httpx.get(f"{url}/admin/keys").status_code == 401  # keys are in force: no key, no entry
    schema = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/admin/keys", "/admin/keys/{key_id}", "/admin/usage"} <= set(schema)
    assert set(schema["/admin/keys/{key_id}"]) == {"get", "patch", "delete"}


def test_without_keys_the_admin_api_is_not_there(tmp_path: Path) -> None:
    with serve(create_app(make_settings(), provider=ScriptedProvider.replying("hi"))) as url:
        assert httpx.get(f"{url}/admin/keys").status_code == 404
        assert httpx.get(f"{url}/admin/usage").status_code == 404


def test_every_admin_action_shows_in_the_cli(admin_server: tuple[str, str, str], tmp_path: Path) -> None:
    url, admin_key, database = admin_server
    made = httpx.post(
        f"{url}/admin/keys",
        json={"name": "billing", "tpm": 1000, "budget_tokens": 50, "budget_period": "month"},
        headers=auth(admin_key),
    ).json()
    plain, key_id = made["key"], made["id"]
    assert plain.startswith("sk-llmrelay-") and made["prefix"] == plain[:16] + "…"
    assert made["limits"] == {
        "rpm": None,
        "tpm": 1000,
        "max_streams": None,
        "budget_tokens": 50,
        "budget_period": "month",
    }
    listed = cli("keys", "list", database=database, cwd=tmp_path)
    line = next(line for line in listed.stdout.splitlines() if key_id in line)
    assert (
        "billing" in line and "tpm=1000" in line and "budget=50/month" in line and plain not in listed.stdout
    )

    # The key works, its usage shows in both.
    assert httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=auth(plain)).status_code == 200
    usage = _wait_for_usage(url, admin_key)
    row = next(r for r in usage if r["key_id"] == key_id)
    assert (row["key_name"], row["model"], row["requests"], row["input_tokens"], row["output_tokens"]) == (
        "billing",
        "scripted",
        1,
        1,
        2,
    )
    shown = cli("keys", "usage", "--since", row["day"], database=database, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    usage_line = next(line for line in shown.stdout.splitlines() if "billing" in line)
    assert usage_line.split() == [row["day"], "billing", "scripted", "1", "1", "2"]
    assert "No usage" in cli("keys", "usage", "--since", "2999-01-01", database=database, cwd=tmp_path).stdout
    bad = cli("keys", "usage", "--since", "yesterday", database=database, cwd=tmp_path)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr

    changed = httpx.patch(f"{url}/admin/keys/{key_id}", json={"tpm": 0, "rpm": 7}, headers=auth(admin_key))
    assert changed.status_code == 200 and changed.json()["limits"]["tpm"] is None
    assert changed.json()["limits"]["rpm"] == 7 and changed.json()["limits"]["budget_tokens"] == 50
    assert "rpm=7 tpm=-" in cli("keys", "list", database=database, cwd=tmp_path).stdout
    assert (
        httpx.patch(f"{url}/admin/keys/{key_id}", json={"rpm": -1}, headers=auth(admin_key)).status_code
        == 422
    )
    assert httpx.get(f"{url}/admin/keys/key_nope", headers=auth(admin_key)).status_code == 404

    # And the other way round: the CLI's change shows in the API.
    limited = cli("keys", "limits", "billing", "--max-streams", "3", database=database, cwd=tmp_path)
    assert limited.returncode == 0, limited.stderr
    assert "max_streams=3" in limited.stdout
    assert "api key limits changed" in limited.stderr and plain not in limited.stderr + limited.stdout
    one = httpx.get(f"{url}/admin/keys/{key_id}", headers=auth(admin_key)).json()
    assert one["limits"]["max_streams"] == 3

    revoked = httpx.delete(f"{url}/admin/keys/{key_id}", headers=auth(admin_key))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    # In this process the cache is dropped: refused on the very next request.
    assert httpx.get(f"{url}/chat-complete", params={"message": "hi"}, headers=auth(plain)).status_code == 401
    line = next(
        line
        for line in cli("keys", "list", database=database, cwd=tmp_path).stdout.splitlines()
        if key_id in line
    )
    assert "revoked" in line
    assert (
        httpx.patch(f"{url}/admin/keys/{key_id}", json={"rpm": 1}, headers=auth(admin_key)).status_code == 409
    )
    listed_api = httpx.get(f"{url}/admin/keys", headers=auth(admin_key)).json()
    assert [k["name"] for k in listed_api] == ["ops", "billing"] and listed_api[0]["admin"] is True


def _wait_for_usage(url: str, admin_key: str) -> list[dict[str, object]]:
    async def poll() -> list[dict[str, object]]:
        async with httpx.AsyncClient() as client:
            for _ in range(50):
                rows: list[dict[str, object]] = (
                    await client.get(f"{url}/admin/usage", headers=auth(admin_key))
                ).json()
                if rows:
                    return rows
                await asyncio.sleep(0.1)  # usage rows are written in batches, 0.25 s apart
        return []

    return asyncio.run(poll())


async def test_a_cli_revocation_takes_effect_within_two_seconds(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'revoke.db'}"
    store = await Store.open(database)
    try:
        _, plain = await store.create_api_key("soon-gone")
        await store.create_api_key("stays")  # with no active key left the server would be open
    finally:
        await store.close()
    with serve(
        create_app(make_settings(database_url=database), provider=ScriptedProvider.replying("hi"))
    ) as url:
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{url}/api/conversations", headers=auth(plain))).status_code == 200
            done = await asyncio.to_thread(
                cli, "keys", "revoke", "soon-gone", database=database, cwd=tmp_path
            )
            assert done.returncode == 0 and "api key revoked" in done.stderr and plain not in done.stderr
            await asyncio.sleep(2.1)
            assert (await client.get(f"{url}/api/conversations", headers=auth(plain))).status_code == 401
