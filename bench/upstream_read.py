"""CPU time llmrelay's upstream client spends per streamed answer, in-process, by HTTP transport.

Usage: .venv/bin/python bench/upstream_read.py [--answers 200] [--tokens 200] [--rounds 3]

Starts bench/fake_upstream.py (its own process, pinned to core 0; this one to core 1), then
streams answers through the `openai-compatible` backend (`ChatCompletionsProvider.stream`, the
code every upstream token goes through) with each transport the OpenAI SDK offers: its default
(httpx2 over httpcore2/h11, pure Python) and aiohttp (`openai[aiohttp]`, llhttp in C). The
transports alternate within each round, so both see the same machine; the figure is this
process's CPU time (`time.process_time`) per answer, which other work on a shared machine delays
but does not inflate. Prints the median over rounds and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import procs  # noqa: E402

from llmrelay.providers.base import ChatMessage, GenerationRequest, TextDelta  # noqa: E402
from llmrelay.providers.openai_sdk.chat import ChatCompletionsProvider  # noqa: E402


def provider(base_url: str, transport: str) -> ChatCompletionsProvider:
    return ChatCompletionsProvider(
        api_key="bench",
        base_url=base_url,
        model="fake",
        timeout=30,
        max_retries=0,
        max_tokens=4096,
        transport=transport,  # type: ignore[arg-type]
    )


async def one_round(base_url: str, transport: str, answers: int, tokens: int) -> float:
    backend = provider(base_url, transport)
    request = GenerationRequest(
        messages=[ChatMessage(role="user", content=f"Say something. [fake-t{tokens}-g0]")]
    )

    async def answer() -> int:
        n = 0
        async for event in backend.stream(request):
            if isinstance(event, TextDelta):
                n += 1
        return n

    for _ in range(10):  # warm up: connection pool, imports, caches
        await answer()
    started = time.process_time()
    for _ in range(answers):
        got = await answer()
        assert got == tokens, f"{transport}: {got} deltas, expected {tokens}"
    spent = time.process_time() - started
    await backend.aclose()
    return spent / answers * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = procs.free_port()
    upstream = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, str(HERE / "fake_upstream.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 20
        while not procs.http_ok(base_url.removesuffix("/v1") + "/healthz"):
            if time.monotonic() > deadline:
                raise SystemExit("the fake upstream did not start")
            time.sleep(0.05)
        os.sched_setaffinity(0, {1})
        results: dict[str, list[float]] = {"httpx": [], "aiohttp": []}
        for _ in range(args.rounds):
            for transport in results:
                results[transport].append(
                    asyncio.run(one_round(base_url, transport, args.answers, args.tokens))
                )
        medians = {name: statistics.median(values) for name, values in results.items()}
        for name, values in results.items():
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(f"{name:8} CPU ms per {args.tokens}-token answer: median {medians[name]:.2f} (runs {runs})")
        print(f"aiohttp / httpx: {medians['aiohttp'] / medians['httpx']:.2f}")
    finally:
        upstream.terminate()
        upstream.wait()


if __name__ == "__main__":
    main()
