"""The environment a test runs in: nothing of the developer's llmrelay or OpenAI settings.

An exported `LLMRELAY_PROVIDER=openai` or `OPENAI_BASE_URL` on the machine running the tests
would otherwise reach `Settings()`, the OpenAI SDK (which reads OPENAI_* itself) and every
`llmrelay` subprocess. The root conftest.py scrubs these for every test; a test that needs one
sets it itself with `monkeypatch.setenv`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest

from tests.support.redis_mode import redis_mode_env

# pydantic-settings matches names case-insensitively, so `llmrelay_provider` counts too.
SCRUBBED_PREFIXES = ("LLMRELAY_", "OPENAI_", "ANTHROPIC_")


def scrubbed_names(environ: Mapping[str, str]) -> list[str]:
    return [name for name in environ if name.upper().startswith(SCRUBBED_PREFIXES)]


def scrub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every LLMRELAY_* / OPENAI_* / ANTHROPIC_* variable; monkeypatch puts them back."""
    for name in scrubbed_names(os.environ):
        monkeypatch.delenv(name)


def subprocess_env(**values: str) -> dict[str, str]:
    """The environment for an `llmrelay` subprocess: this one (PATH, PYTHONPATH…) without any
    scrubbed variable, plus `values`. Subprocesses get their settings only from here (and, in
    the suite's Redis mode, that Redis with a key prefix of their own, unless `values` name
    one: tests/support/redis_mode.py)."""
    env = {name: value for name, value in os.environ.items() if name not in scrubbed_names(os.environ)}
    if "LLMRELAY_REDIS_URL" not in values:
        env.update(redis_mode_env())
    if env.get("PYTHONPATH"):
        # Absolute, because a subprocess runs in its own working directory: `PYTHONPATH=src`
        # would silently fall back to the installed llmrelay instead of the sources under test.
        entries = env["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(entry) for entry in entries if entry)
    env.update(values)
    return env
