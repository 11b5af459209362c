"""`make bench`: run every scenario side by side, write bench/results/*.json, then the report.

Usage: bench/.work/tools/bin/python bench/run.py [--only overhead,sweep,frontier,throughput,...]
       [--quick] [--baseline REV[,REV...]]   also run llmrelay as of each git revision REV
       (before/after, side by side in the same run, as "llmrelay @REV")
       [--redis URL]   the Redis of the several-process steps (`--only several,redis_batch`:
       bench/several.py and bench/redis_batch.py, run with llmrelay's own interpreter)

Processes: the fake upstream and this client share core 0; the server being measured gets
core 1 (`taskset`), so "one server process" is one core. The embedded model gets both cores
(its llama.cpp threads), in llmrelay and directly alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import procs
import scenarios
from fake_upstream import expected_answer

RESULTS = procs.BENCH / "results"
TOKENS, GAP_MS = 200, 10
SLOW = f"fake-t{TOKENS}-g{GAP_MS}"  # overhead: 200 tokens, 10 ms apart
FAST = f"fake-t{TOKENS}-g0"  # throughput: as fast as the upstream can
EMBED_PROMPT = "Write a long story about a lighthouse keeper and a storm."
EMBED_MAX_TOKENS = 96


def machine() -> dict[str, Any]:
    def version(py: Path, module: str) -> str:
        code = f"import importlib.metadata as m; print(m.version({module!r}))"
        try:
            return subprocess.run(
                [str(py), "-c", code], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except OSError:
            return "?"

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    app = procs.APP_PY
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=procs.ROOT
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "fd_limit": procs.raise_fd_limit(),
        # Other work on the machine slows every server alike, but it does add noise: say how much.
        "load_average_start": os.getloadavg(),
        "versions": {
            "llmrelay": version(app, "llmrelay"),
            "uvicorn": version(app, "uvicorn"),
            "fastapi": version(app, "fastapi"),
            "sse-starlette": version(app, "sse-starlette"),
            "openai": version(app, "openai"),
            "llama-cpp-python": version(app, "llama_cpp_python"),
            "litellm": version(procs.WORK / "litellm" / "bin" / "python", "litellm"),
            "uvloop": version(app, "uvloop"),
            "httptools": version(app, "httptools"),
        },
    }


def source_tree(name: str, rev: str, patches: list[Path] = ()) -> Path | None:  # type: ignore[assignment]
    """llmrelay's source as of `rev` with `patches` applied, in a git worktree under bench/.work,
    so one run can measure the code before a change and after it side by side. None when a
    patch no longer applies (the code it changes has moved on): that variant is skipped."""
    path = procs.WORK / "trees" / name
    if path.exists():
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=procs.ROOT, capture_output=True
        )
    subprocess.run(["git", "worktree", "prune"], cwd=procs.ROOT, capture_output=True)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), rev],
        cwd=procs.ROOT,
        check=True,
        capture_output=True,
    )
    for patch in patches:
        # -3: fall back to a 3-way merge when the lines around a change have moved on since.
        applied = subprocess.run(["git", "apply", "-3", str(patch)], cwd=path, capture_output=True, text=True)
        if applied.returncode != 0:
            print(f"[bench] {patch.name} does not apply to {rev} any more; skipping '{name}'", flush=True)
            return None
    return path / "src"


def variants(args: argparse.Namespace) -> dict[str, Path]:
    """Extra llmrelays to run beside the work tree's: `before` (--baseline REV) and `proposed`
    (the work tree's commit plus bench/proposals/*.patch: changes to files this bench does not own)."""
    found: dict[str, Path] = {}
    for i, rev in enumerate(filter(None, (args.baseline or "").split(","))):
        if (before := source_tree(f"before-{i}", rev)) is not None:
            found[f"llmrelay @{rev}"] = before
    patches = sorted((procs.BENCH / "proposals").glob("*.patch"))
    if args.proposed and patches and (proposed := source_tree("proposed", "HEAD", patches)) is not None:
        found["llmrelay proposed"] = proposed
    return found


def overhead_and_throughput(args: argparse.Namespace, out: dict[str, Any]) -> None:
    extra = variants(args)
    out["variants"] = {name: str(path) for name, path in extra.items()}
    expected = expected_answer(TOKENS)
    with ExitStack() as stack:
        up = stack.enter_context(procs.fake_upstream(TOKENS, GAP_MS))
        floor = stack.enter_context(procs.passthrough(up))
        lite = stack.enter_context(procs.litellm(up, [SLOW, FAST]).start(wait_seconds=180))

        def relays(model: str) -> dict[str, procs.Server]:
            """llmrelay's /chat-stream asks the model it was started with: one set per model."""
            found = {"llmrelay": procs.llmrelay(up, model)}
            for i, (name, src) in enumerate(extra.items()):
                found[name] = procs.llmrelay(up, model, name=f"llmrelay-v{i}", src=src)
            return {name: stack.enter_context(server) for name, server in found.items()}

        def targets(
            model: str, servers: dict[str, procs.Server], tokens: int = TOKENS
        ) -> dict[str, tuple[Any, Any]]:
            """Every target, direct first; answers of `tokens` (other than the servers' own
            length: asked for through the prompt, which the fake upstream reads)."""
            prompt = (
                scenarios.PROMPT if tokens == TOKENS else scenarios.tagged(scenarios.PROMPT, tokens, GAP_MS)
            )
            answer = expected if tokens == TOKENS else expected_answer(tokens)
            t: dict[str, tuple[Any, Any]] = {
                "direct": (scenarios.chat_target(up, model, tokens, prompt), None),
                "passthrough": (scenarios.chat_target(floor, model, tokens, prompt), floor),
            }
            if tokens == TOKENS:
                # The fake's Responses stream, read and checked like the others (the rig's self-check).
                t["direct (Responses API)"] = (scenarios.responses_target(up, model, TOKENS), None)
            for name, server in servers.items():
                t[f"{name} /chat-stream"] = (scenarios.tutorial_target(server, answer, prompt), server)
                if scenarios.has_route(server, "/v1/chat/completions"):
                    t[f"{name} /v1/chat/completions"] = (
                        scenarios.chat_target(server, model, tokens, prompt),
                        server,
                    )
            t["litellm"] = (scenarios.chat_target(lite, model, tokens, prompt), lite)
            return t

        slow = {"overhead", "sweep", "frontier"} & args.only
        if slow:
            servers = relays(SLOW)

            def slow_targets(tokens: int) -> dict[str, Any]:
                return targets(SLOW, servers, tokens)

        if "overhead" in args.only:
            started = time.perf_counter()
            out["overhead"] = scenarios.overhead(
                {k: v[0] for k, v in slow_targets(TOKENS).items()},
                args.streams,
                args.runs,
                timeout=60,
                spread=TOKENS * GAP_MS / 1000,
            )
            out["overhead"]["seconds"] = round(time.perf_counter() - started, 1)
            save(out)
        if "sweep" in args.only:
            started = time.perf_counter()
            out["sweep"] = scenarios.sweep(slow_targets, args.sweep_levels, args.sweep_seconds, GAP_MS, 60)
            out["sweep"]["wall_seconds"] = round(time.perf_counter() - started, 1)
            save(out)
        if "frontier" in args.only:
            started = time.perf_counter()
            out["frontier"] = scenarios.frontier(slow_targets, args.rates, args.frontier_seconds, 20, 60)
            out["frontier"]["wall_seconds"] = round(time.perf_counter() - started, 1)
            save(out)
        if slow:
            for server in servers.values():
                server.stop()
        if "throughput" in args.only:
            t = targets(FAST, relays(FAST))
            t.pop("direct (Responses API)")  # a self-check of the rig; once, in the overhead runs, is enough
            started = time.perf_counter()
            out["throughput"] = scenarios.throughput(t, args.levels, args.seconds, args.passes, timeout=60)
            out["throughput_seconds"] = round(time.perf_counter() - started, 1)
            save(out)


def many(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """10,000 slow streams at once against one llmrelay process (the scripted provider, so the
    cost measured is llmrelay's own per stream; each answer lasts ~60 s, longer than it takes
    one core to accept them all, so all are open at the same time)."""
    words, delay = 10, 6.0
    reply = " ".join(f"w{i}" for i in range(words))
    env = {
        # Default settings: no key configured (each request's bearer token is looked up in the store).
        "LLMRELAY_API_KEYS": "",
        "LLMRELAY_PROVIDER": "scripted",
        "LLMRELAY_SCRIPTED_REPLY": reply,
        "LLMRELAY_SCRIPTED_DELAY_SECONDS": str(delay),
    }
    with procs.llmrelay(None, "scripted", name="llmrelay-many", env=env) as relay:
        target = scenarios.tutorial_target(relay, reply)
        result = scenarios.many_streams(relay, target, args.many, timeout=words * delay + 90)
    result["answer"] = f"{words} tokens, {delay} s apart"
    save_partial(out, "many_streams", {"scripted": result})


def embedded(args: argparse.Namespace, out: dict[str, Any]) -> None:
    threads = str(os.cpu_count() or 2)
    direct = subprocess.run(
        [
            str(procs.APP_PY),
            str(procs.BENCH / "embedded_direct.py"),
            "--threads",
            threads,
            "--runs",
            "4",
            "--max-tokens",
            str(EMBED_MAX_TOKENS),
            "--prompt",
            EMBED_PROMPT,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=procs.ROOT,
    )
    result: dict[str, Any] = {"direct": json.loads(direct.stdout.strip().splitlines()[-1])}
    env = {
        "LLMRELAY_PROVIDER": "local",
        "LLMRELAY_LOCAL_THREADS": threads,
        "LLMRELAY_MAX_OUTPUT_TOKENS": str(EMBED_MAX_TOKENS),
    }
    server = procs.llmrelay(None, "", name="llmrelay-local", env=env)
    server.env.pop("LLMRELAY_MODEL")
    server.cpu = None  # both cores, like the direct run
    with server:
        target = scenarios.tutorial_target(server, None, EMBED_PROMPT)
        target.check = False
        scenarios.run(scenarios.load.burst(target, 1, 120))  # warm-up
        for n in (1, 2, 4):
            result[f"llmrelay_{n}"] = [
                scenarios.load.summarize(scenarios.run(scenarios.load.burst(target, n, 300)))
                for _ in range(2 if n == 1 else 1)
            ]
    save_partial(out, "embedded", result)


def startup(args: argparse.Namespace, out: dict[str, Any]) -> None:
    result: dict[str, Any] = {}
    result["healthz_local_s"] = scenarios.startup_healthz(
        lambda: procs.llmrelay(None, "", name="llmrelay-start", env={"LLMRELAY_PROVIDER": "local"}), 3
    )
    for name, src in variants(args).items():
        result[f"healthz_local_s ({name})"] = scenarios.startup_healthz(
            lambda src=src: procs.llmrelay(
                None, "", name="llmrelay-start-v", src=src, env={"LLMRELAY_PROVIDER": "local"}
            ),
            3,
        )
    with procs.fake_upstream(TOKENS, GAP_MS) as up:
        result["healthz_openai_compatible_s"] = scenarios.startup_healthz(
            lambda: procs.llmrelay(up, SLOW, name="llmrelay-start-oc"), 3
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMRELAY_", "OPENAI_"))}
    env.update(LLMRELAY_PROVIDER="local", LLMRELAY_MAX_OUTPUT_TOKENS="16")
    run_dir = procs.WORK / "run"
    result["ask_local"] = scenarios.ask_first_token(env, 3, run_dir)
    save_partial(out, "startup", result)


def several_processes(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """bench/several.py: tokens/s with 1 and 2 workers and with / without Redis; resume on
    another instance. Unpinned (all cores: `--workers 2` is the point), so this process's own
    pinning to core 0 is not passed on."""
    _script_step(
        out,
        "several",
        "several.py",
        ["--seconds", str(args.several_seconds), "--clients", "32", "--rounds", str(args.several_rounds)],
        args,
        timeout=900,
    )


def redis_batch(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """bench/redis_batch.py: round trips and a follower's lag for each batch window."""
    _script_step(
        out, "redis_batch", "redis_batch.py", ["--events", str(args.batch_events)], args, timeout=600
    )


def _script_step(
    out: dict[str, Any], key: str, script: str, extra: list[str], args: argparse.Namespace, *, timeout: float
) -> None:
    """Run a bench script that imports llmrelay (the app's interpreter, this checkout's src/),
    its numbers read back from --json; a Redis that does not answer is recorded, not fatal."""
    path = procs.WORK / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    env["PYTHONPATH"] = str(procs.SRC)
    argv = [str(procs.APP_PY), str(procs.BENCH / script), "--redis", args.redis, "--json", str(path), *extra]
    cores = os.cpu_count() or 1
    if shutil.which("taskset"):
        argv = ["taskset", "-c", f"0-{cores - 1}", *argv]
    done = subprocess.run(argv, env=env, cwd=procs.ROOT, timeout=timeout, capture_output=True, text=True)
    print(done.stdout, end="", flush=True)
    if done.returncode != 0 or not path.exists():
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"[bench] {script} failed: {reason}", flush=True)
        save_partial(out, key, {"error": reason})
        return
    save_partial(out, key, json.loads(path.read_text()))


def save_partial(out: dict[str, Any], key: str, value: Any) -> None:
    out[key] = value
    save(out)


def save(out: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default="overhead,sweep,frontier,throughput,many,embedded,startup,several,redis_batch",
    )
    parser.add_argument(
        "--baseline", default=None, help="git revision(s), comma-separated, to run as 'llmrelay @REV'"
    )
    parser.add_argument(
        "--proposed",
        action="store_true",
        help="also run HEAD + bench/proposals/*.patch as 'llmrelay proposed'",
    )
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--many", type=int, default=10_000)
    parser.add_argument("--sweep-levels", default="1,16,64")
    parser.add_argument("--sweep-seconds", type=float, default=6.0, help="measured seconds per level")
    parser.add_argument("--rates", default="5,10,25,50,100,200", help="frontier: requests/s, rising")
    parser.add_argument("--frontier-seconds", type=float, default=3.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="several, redis_batch: Redis")
    parser.add_argument("--several-seconds", type=float, default=12.0, help="several: seconds per server")
    parser.add_argument("--several-rounds", type=int, default=20, help="several: resume rounds")
    parser.add_argument("--batch-events", type=int, default=2000, help="redis_batch: events per run")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, to check the bench itself")
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    args.levels = [int(x) for x in args.levels.split(",")]
    args.sweep_levels = [int(x) for x in args.sweep_levels.split(",")]
    args.rates = [float(x) for x in args.rates.split(",")]
    if args.quick:
        args.streams, args.runs, args.levels, args.seconds, args.many = 20, 1, [1, 8], 1.0, 500
        args.passes, args.sweep_seconds, args.frontier_seconds, args.rates = 1, 2.0, 1.0, [10.0, 50.0]
        args.several_seconds, args.several_rounds, args.batch_events = 3.0, 5, 300
    procs.pin_self()
    started = time.perf_counter()
    out: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "settings": {
            "streams": args.streams,
            "runs": args.runs,
            "levels": args.levels,
            "seconds_per_level": args.seconds,
            "passes": args.passes,
            "many": args.many,
            "tokens": TOKENS,
            "gap_ms": GAP_MS,
            "baseline": args.baseline,
            "sweep_levels": args.sweep_levels,
            "sweep_seconds": args.sweep_seconds,
            "frontier_rates": args.rates,
            "frontier_seconds": args.frontier_seconds,
            "several_seconds": args.several_seconds,
            "several_rounds": args.several_rounds,
            "batch_events": args.batch_events,
        },
    }
    save(out)
    for name, step in (
        ("overhead", overhead_and_throughput),
        ("many", many),
        ("embedded", embedded),
        ("startup", startup),
        ("several", several_processes),
        ("redis_batch", redis_batch),
    ):
        if name in args.only or (name == "overhead" and {"sweep", "frontier", "throughput"} & args.only):
            print(f"[bench] {name} …", flush=True)
            step(args, out)
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["machine"]["load_average_end"] = os.getloadavg()
    save(out)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"run-{stamp}.json").write_text(json.dumps(out, indent=1))
    print(f"[bench] done in {out['seconds']} s; results in {RESULTS}", flush=True)
    subprocess.run([sys.executable, str(procs.BENCH / "report.py")], check=True)


if __name__ == "__main__":
    main()
