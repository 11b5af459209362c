"""`llmrelay serve [--workers N]`: the combinations that cannot work stop it with one sentence
(several workers without Redis; a Redis that cannot be reached or refuses the password)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.environment import subprocess_env
from tests.support.redis import PrivateRedis
from tests.support.redis_mode import redis_mode_on


@pytest.mark.skipif(redis_mode_on(), reason="about running without Redis: the suite's plain run has it")
def test_several_workers_without_redis_is_one_sentence_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmrelay", "serve", "--workers", "2"],
        env=subprocess_env(LLMRELAY_PROVIDER="scripted"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--workers 2 needs LLMRELAY_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr


def _serve(workers: str, redis_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmrelay", "serve", "--workers", workers],
        env=subprocess_env(
            LLMRELAY_PROVIDER="scripted",
            LLMRELAY_REDIS_URL=redis_url,
            LLMRELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_unreachable_redis_is_one_sentence_and_exit_2(tmp_path: Path, workers: str) -> None:
    result = _serve(workers, "redis://:secret-pw@127.0.0.1:1/0", tmp_path)
    assert result.returncode == 2
    assert "LLMRELAY_REDIS_URL: cannot use Redis at redis://127.0.0.1:1/0: " in result.stderr
    assert "Error 111 connecting to 127.0.0.1:1." in result.stderr and ".." not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "secret-pw" not in result.stderr and "Traceback" not in result.stderr


def test_a_wrong_redis_password_is_one_sentence_and_exit_2(
    tmp_path: Path, redis_server: PrivateRedis
) -> None:
    wrong = redis_server.url.replace(redis_server.password, "not-the-password")
    result = _serve("1", wrong, tmp_path)
    assert result.returncode == 2
    assert (
        f"cannot use Redis at redis://127.0.0.1:{redis_server.port}/0: invalid username-password"
        in result.stderr
    )
    assert "not-the-password" not in result.stderr and "Traceback" not in result.stderr
