"""Models files (LLMRELAY_MODELS_FILE) the tests serve: written to a test's tmp_path."""

from __future__ import annotations

from pathlib import Path


def write_models_file(tmp_path: Path, toml: str, name: str = "models.toml") -> Path:
    path = tmp_path / name
    path.write_text(toml, encoding="utf-8")
    return path


def seeing_and_blind(fake_url: str) -> str:
    """Two models: `blind` (scripted, reads text only) and `seeing` (the OpenAI stand-in at
    `fake_url`, as an openai-compatible upstream, so images reach it)."""
    return f"""
[[models]]
name = "blind"
provider = "scripted"
reply = "I only read."

[[models]]
name = "seeing"
provider = "openai-compatible"
model = "upstream-vision"
base_url = "{fake_url}/v1"
max_retries = 0
"""
