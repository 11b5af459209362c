"""The benchmark's scenarios. Each returns a JSON-able dict of what it measured, nothing more.

Every loop here is bounded in count and time; all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import load
import procs
from fake_upstream import expected_answer
from load import Target

PROMPT = "Say something."


def chat_target(server: procs.Server, model: str, tokens: int) -> Target:
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": PROMPT}]})
    return Target(
        "127.0.0.1",
        server.port,
        "POST",
        "/v1/chat/completions",
        body.encode(),
        "chat",
        expected_answer(tokens),
    )


def responses_target(server: procs.Server, model: str, tokens: int) -> Target:
    body = json.dumps({"model": model, "stream": True, "input": PROMPT})
    return Target(
        "127.0.0.1", server.port, "POST", "/v1/responses", body.encode(), "responses", expected_answer(tokens)
    )


def tutorial_target(server: procs.Server, expected: str | None, message: str = PROMPT) -> Target:
    query = urllib.parse.urlencode({"message": message})
    return Target(
        "127.0.0.1",
        server.port,
        "GET",
        f"/chat-stream?{query}",
        None,
        "tutorial",
        expected if expected is not None else "",
    )


def has_route(server: procs.Server, path: str) -> bool:
    """True when the server knows `path` (a POST without a body gets 4xx other than 404)."""
    request = urllib.request.Request(
        server.url + path, data=b"{}", method="POST", headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code != 404
    except OSError:
        return False


def run(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# --- Overhead -----------------------------------------------------------------------------
def overhead(
    targets: dict[str, Target], streams: int, runs: int, timeout: float, spread: float
) -> dict[str, Any]:
    """`streams` streams per round against each target, `runs` rounds, targets interleaved.

    Two arrival patterns: `steady` starts the streams evenly over `spread` seconds (one answer's
    length, so about `streams` are open at once), `burst` starts them all at the same instant.
    """
    out: dict[str, Any] = {"streams": streams, "spread_seconds": spread}
    for target in targets.values():  # warm-up: connections, imports, caches
        run(load.burst(target, min(10, streams), timeout))
    for pattern, pattern_spread in (("steady", spread), ("burst", 0.0)):
        per_target: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for _ in range(runs):
            for name, target in targets.items():
                results = run(load.burst(target, streams, timeout, spread=pattern_spread))
                per_target[name].append(load.summarize(results))
        out[pattern] = per_target
    return out


# --- Throughput ---------------------------------------------------------------------------
def throughput(
    targets: dict[str, tuple[Target, procs.Server | None]],
    levels: list[int],
    seconds: float,
    passes: int,
    timeout: float,
) -> dict[str, list[dict[str, Any]]]:
    """Closed loop at each concurrency level, targets interleaved within a level, `passes` times.

    Per (target, level) the pass with the most tokens/s is kept (with every pass's figure):
    other work on a shared machine can only slow a pass down, so the best pass is the
    closest to what the server can do.
    """
    for target, _ in targets.values():
        run(load.burst(target, 4, timeout))  # warm-up
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    failed: set[str] = set()
    for concurrency in levels:
        best: dict[str, dict[str, Any]] = {}
        for _ in range(passes):
            for name, (target, server) in targets.items():
                if name in failed:
                    continue
                cpu_before = server.cpu_seconds() if server else 0.0
                summary = run(load.closed_loop(target, concurrency, seconds, timeout))
                if server is not None:
                    used = server.cpu_seconds() - cpu_before
                    summary["server_cpu_share"] = round(used / summary["seconds"], 3)
                    if server.proc is not None and server.proc.poll() is not None:
                        # Stopped from outside (this machine is shared): its numbers mean nothing.
                        summary["server_exited"] = True
                tps = summary["tokens_per_second"]
                kept = best.get(name)
                passes_seen = [*(kept or {}).get("passes_tokens_per_second", []), round(tps)]
                if kept is None or tps > kept["tokens_per_second"]:
                    kept = summary
                kept["passes_tokens_per_second"] = passes_seen
                best[name] = kept
        for name, summary in best.items():
            out[name].append(summary)
            if summary["errors"] > summary["ok"]:
                failed.add(name)  # past saturation into failure: higher levels only fail more
    return out


# --- Many open streams --------------------------------------------------------------------
def open_streams(server: procs.Server) -> int:
    """llmrelay's own count of open event streams, from its /metrics."""
    try:
        with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("llmrelay_open_streams "):
                    return int(float(line.split()[1]))
    except OSError:
        pass
    return -1


def many_streams(server: procs.Server, target: Target, streams: int, timeout: float) -> dict[str, Any]:
    baseline = server.rss_bytes()
    peak = {"rss": baseline, "open": 0}

    async def sample() -> None:
        loop = asyncio.get_running_loop()
        while True:
            peak["rss"] = max(peak["rss"], server.rss_bytes())
            # A blocking scrape, off the loop that runs the streams.
            peak["open"] = max(peak["open"], await loop.run_in_executor(None, open_streams, server))
            await asyncio.sleep(0.5)

    async def go() -> list[load.StreamResult]:
        sampler = asyncio.ensure_future(sample())
        try:
            return await load.burst(target, streams, timeout)
        finally:
            sampler.cancel()

    started = time.perf_counter()
    results = run(go())
    summary = load.summarize(results)
    summary.update(
        seconds=round(time.perf_counter() - started, 2),
        rss_before_mib=round(baseline / 2**20, 1),
        rss_peak_mib=round(max(peak["rss"], server.rss_bytes("VmHWM")) / 2**20, 1),
        peak_open_streams=peak["open"],
    )
    summary["bytes_per_stream"] = int((max(peak["rss"], baseline) - baseline) / max(1, streams))
    return summary


# --- Start-up -----------------------------------------------------------------------------
def startup_healthz(make: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        server = make()
        try:
            server.start(wait_seconds=60)
            times.append(round(server.ready_after or 0.0, 3))
        finally:
            server.stop()
    return times


def ask_first_token(env: dict[str, str], runs: int, cwd: Path) -> list[dict[str, Any]]:
    """Run `llmrelay ask` as a user does; time until its first byte of answer on stdout."""
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(procs.ROOT / ".venv" / "bin" / "llmrelay"), "ask", "Say hello."],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        first = proc.stdout.read(1)
        first_at = time.perf_counter() - started
        rest = proc.stdout.read()
        code = proc.wait(timeout=120)
        out.append(
            {
                "first_byte_s": round(first_at, 3),
                "total_s": round(time.perf_counter() - started, 3),
                "exit": code,
                "chars": len(first + rest),
            }
        )
    return out


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
