"""`llmrelay serve --workers N`: the combinations that cannot work stop it with one sentence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.environment import subprocess_env
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


def test_an_unreachable_redis_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmrelay", "serve", "--workers", "2"],
        env=subprocess_env(
            LLMRELAY_PROVIDER="scripted",
            LLMRELAY_REDIS_URL="redis://:secret-pw@127.0.0.1:1/0",
            LLMRELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "LLMRELAY_REDIS_URL: cannot use Redis at redis://127.0.0.1:1/0" in result.stderr
    assert "secret-pw" not in result.stderr and "Traceback" not in result.stderr
