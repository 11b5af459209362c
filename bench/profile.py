"""Profile llmrelay under the bench's load: py-spy samples the running `llmrelay serve`.

Usage: bench/.work/tools/bin/python bench/profile.py --route v1 --concurrency 100 [--seconds 8]
       [--tokens 200 --gap-ms 10] [--src PATH] [--top 40] [--out bench/.work/profiles/NAME.txt]

The server is started exactly as `make bench` starts it (procs.llmrelay: env settings, one core,
a key, the openai-compatible provider against bench/fake_upstream.py); the load is a closed loop
of `--concurrency` streams (bench/load.py). py-spy records at 250 Hz (`--format raw`: collapsed
stacks), and the summary gives, over the server's samples, the share *inside* each function
(inclusive) and the share spent *in* it (self), by function and file, heaviest first.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import time
from pathlib import Path

import load
import procs
import scenarios
from fake_upstream import expected_answer

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    """`follow (/x/src/llmrelay/wire/sse.py:57)` -> `follow (llmrelay/wire/sse.py)`."""
    found = FRAME.match(frame.strip())
    if not found:
        return frame.strip()
    path = found.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{found.group('func')} ({path})"


def summarize(raw: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [short(f) for f in stack.split(";")[1:]]  # [0] is the thread
        if frames and frames[-1].startswith("Runner.run "):
            idle += n  # the event loop waiting in uvloop's C code: nothing to do
            continue
        total += n
        for name in set(frames):
            inclusive[name] += n
        if frames:
            self_time[frames[-1]] += n
    lines = [
        f"{total} busy samples ({idle} more with the event loop idle); shares are of the busy ones",
        "",
        "inclusive %  function",
    ]
    lines += [f"{100 * n / total:10.1f}  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self %      function"]
    lines += [f"{100 * n / total:10.1f}  {name}" for name, n in self_time.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--route", choices=["v1", "chat-stream"], default="v1")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=10.0)
    parser.add_argument(
        "--src", type=Path, default=None, help="llmrelay's src/ to run (default: this checkout's)"
    )
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    procs.pin_self()
    model = f"fake-t{args.tokens}-g{args.gap_ms:g}"
    out_dir = procs.WORK / "profiles"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{args.route}-c{args.concurrency}-{time.strftime('%H%M%S')}"
    raw = out_dir / f"{name}.raw"
    with (
        procs.fake_upstream(args.tokens, args.gap_ms) as up,
        procs.llmrelay(up, model, name="llmrelay-profile", src=args.src) as relay,
    ):
        if args.route == "v1":
            target = scenarios.chat_target(relay, model, args.tokens)
        else:
            target = scenarios.tutorial_target(relay, expected_answer(args.tokens))
        scenarios.run(load.burst(target, 10, 60))  # warm-up
        spy = subprocess.Popen(
            [
                str(procs.WORK / "tools" / "bin" / "py-spy"),
                "record",
                "--pid",
                str(relay.pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--duration",
                str(int(args.seconds)),
                "--output",
                str(raw),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # py-spy attaches
        summary = scenarios.run(_load(target, args.concurrency, args.seconds))
        _, err = spy.communicate(timeout=args.seconds + 60)
        if spy.returncode != 0:
            raise SystemExit(f"py-spy failed: {err.decode(errors='replace')}")
    text = (
        f"{args.route}, concurrency {args.concurrency}, {args.tokens} tokens {args.gap_ms:g} ms apart: "
        f"{summary['ok']} ok / {summary['errors']} errors, TTFT median {summary['ttft_ms']['median']} ms, "
        f"p99 {summary['ttft_ms']['p99']} ms, {summary['tokens_per_second']:.0f} tokens/s\n\n"
        + summarize(raw, args.top)
    )
    out = args.out or out_dir / f"{name}.txt"
    out.write_text(text + "\n")
    print(text)
    print(f"\n[profile] raw stacks in {raw}, summary in {out}")


async def _load(target: load.Target, concurrency: int, seconds: float) -> dict[str, object]:
    return await load.closed_loop(target, concurrency, seconds, 60)


if __name__ == "__main__":
    main()
