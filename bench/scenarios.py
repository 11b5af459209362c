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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import load
import procs
from fake_upstream import expected_answer
from load import Target

PROMPT = "Say something."


def chat_target(server: procs.Server, model: str, tokens: int, prompt: str = PROMPT) -> Target:
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": prompt}]})
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


# --- Concurrency sweep and throughput frontier --------------------------------------------
# answer tokens -> the targets (and the server process behind each, None for direct), direct first
TargetsFor = Callable[[int], dict[str, tuple[Target, procs.Server | None]]]


def measured(server: procs.Server | None, go: Any) -> dict[str, Any]:
    """Run one load step; add the server's CPU time per answered stream (robust where latency is
    not: other work on a shared machine delays a server, it does not make it use more CPU)."""
    before = server.cpu_seconds() if server else 0.0
    summary: dict[str, Any] = run(go)
    if server is not None and summary["ok"]:
        summary["server_cpu_ms_per_stream"] = round(
            1000 * (server.cpu_seconds() - before) / summary["streams"], 3
        )
    return summary


def warm_up(targets: dict[str, tuple[Target, procs.Server | None]], timeout: float) -> None:
    for target, _ in targets.values():
        run(load.burst(target, 4, timeout))


def tagged(prompt: str, tokens: int, gap_ms: float) -> str:
    """A prompt that tells the fake upstream how to answer (bench/fake_upstream.py)."""
    return f"{prompt} [fake-t{tokens}-g{gap_ms:g}]"


def sweep(
    targets_for: TargetsFor, levels: list[int], seconds: float, gap_ms: float, timeout: float
) -> dict[str, Any]:
    """At each level N, N streams open at a time against each target (targets interleaved).

    Answers are 200 tokens `gap_ms` apart, as in the overhead runs; at N = 1 they are 20
    tokens (0.2 s), so that one stream at a time still gives enough first tokens to count:
    with nothing else open, the length of an answer does not change its first token's time.
    """
    out: dict[str, Any] = {"levels": levels, "seconds": seconds}
    per_target: dict[str, list[dict[str, Any]]] = {}
    warm_up(targets_for(20), timeout)
    for level in levels:
        tokens = 20 if level == 1 else 200
        warm = 0.0 if level == 1 else tokens * gap_ms / 1000
        for name, (target, server) in targets_for(tokens).items():
            if name == "direct (Responses API)":
                continue
            summary = measured(server, load.sweep_level(target, level, seconds, warm, timeout))
            summary["answer_tokens"] = tokens
            per_target.setdefault(name, []).append(summary)
    out["targets"] = per_target
    return out


FRONTIER_THRESHOLDS_MS = (1.0, 5.0, 10.0, 50.0)


def frontier(
    targets_for: TargetsFor, rates: list[float], seconds: float, tokens: int, timeout: float
) -> dict[str, Any]:
    """Open loop at rising request rates: per rate and target, the p99 TTFT *added* to the
    direct connection's p99 at the same rate. A target leaves the climb once its added p99
    passes the largest threshold (or it errs): past that point it only queues up more."""
    targets = targets_for(tokens)
    warm_up(targets, timeout)
    out: dict[str, Any] = {"rates": rates, "tokens": tokens, "thresholds_ms": list(FRONTIER_THRESHOLDS_MS)}
    steps: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    retired: set[str] = set()
    for rate in rates:
        duration = max(seconds, 30 / rate)  # at least 30 streams per step
        direct_p99: float | None = None
        for name, (target, server) in targets.items():
            if name in retired:
                continue
            summary = measured(server, load.open_loop(target, rate, duration, timeout))
            p99 = summary["ttft_ms"]["p99"]
            if name == "direct":
                direct_p99 = p99
            added = None if p99 is None or direct_p99 is None else p99 - direct_p99
            summary["added_ttft_p99_ms"] = None if added is None else round(added, 3)
            steps[name].append(summary)
            if name != "direct" and (
                summary["errors"] or added is None or added > FRONTIER_THRESHOLDS_MS[-1]
            ):
                retired.add(name)
    out["targets"] = steps
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
            [str(procs.APP_PY), "-m", "llmrelay", "ask", "Say hello."],
            cwd=cwd,
            env={**env, "PYTHONPATH": str(procs.SRC)},
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
