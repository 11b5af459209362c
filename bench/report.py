"""bench/results/latest.json -> bench/RESULTS.md and PNG plots. Numbers only from the run.

`bench/notes.md` (written by hand: profiles, changes made, their before/after) is included
as it is, so the report says what was done as well as what was measured.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def med(values: list[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def overhead_rows(data: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per target: the median over runs of each run's median / p99 (TTFT, total, gap)."""
    rows: dict[str, dict[str, float | None]] = {}
    for name, runs in data.items():
        rows[name] = {
            "ttft_med": med([r["ttft_ms"]["median"] for r in runs]),
            "ttft_p99": med([r["ttft_ms"]["p99"] for r in runs]),
            "total_med": med([r["total_ms"]["median"] for r in runs]),
            "total_p99": med([r["total_ms"]["p99"] for r in runs]),
            "gap_med": med([r["gap_ms"]["median"] for r in runs]),
            "gap_p99": med([r["gap_ms"]["p99"] for r in runs]),
            "errors": sum(r["errors"] for r in runs),
            "streams": sum(r["streams"] for r in runs),
        }
    direct = rows.get("direct")
    for row in rows.values():
        for key in ("ttft_med", "ttft_p99", "total_med", "total_p99"):
            base = direct[key] if direct else None
            row["added_" + key] = None if base is None or row[key] is None else row[key] - base
    return rows


def peak(levels: list[dict[str, Any]]) -> float:
    return max((lv["tokens_per_second"] for lv in levels), default=0.0)


def loads(values: list[float] | None) -> str:
    return "–" if not values else " / ".join(f"{v:.2f}" for v in values)


def check(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def plot_overhead(rows: dict[str, dict[str, float | None]], path: Path, pattern: str, streams: int) -> None:
    names = list(rows)
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.55 * len(names) + 2.2))
    for ax, key, title, log in (
        (axes[0], "ttft", "Time to first token, ms (log scale)", True),
        (axes[1], "total", "Total time of a 2 s answer, ms", False),
    ):
        meds = [rows[n][f"{key}_med"] or 0 for n in names]
        p99s = [rows[n][f"{key}_p99"] or 0 for n in names]
        y = range(len(names))
        ax.barh([i - 0.2 for i in y], meds, height=0.4, label="median", color="#4c72b0")
        ax.barh([i + 0.2 for i in y], p99s, height=0.4, label="p99", color="#dd8452")
        ax.set_yticks(list(y), names)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(left=max(0.1, min(v for v in meds if v > 0) / 2), right=max(p99s) * 4)
        else:
            ax.set_xlim(0, max(p99s) * 1.25)
        for i, (m, p) in enumerate(zip(meds, p99s, strict=True)):
            ax.text(m, i - 0.2, f" {m:,.1f}", va="center", fontsize=8)
            ax.text(p, i + 0.2, f" {p:,.1f}", va="center", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right")
    fig.suptitle(f"Overhead ({pattern}): {streams} streams of 200 tokens 10 ms apart (lower is better)")
    fig.tight_layout(rect=(0, 0, 0.93, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(data: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, levels in data.items():
        xs = [lv["concurrency"] for lv in levels]
        axes[0].plot(xs, [lv["tokens_per_second"] for lv in levels], marker="o", label=name)
        axes[1].plot(xs, [lv["ttft_ms"]["median"] or float("nan") for lv in levels], marker="o", label=name)
    axes[0].set_title("Tokens per second delivered (higher is better, log scale)")
    axes[0].set_yscale("log")
    axes[1].set_title("Median time to first token, ms (lower is better)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent streams")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Throughput: upstream as fast as it can, 200-token answers, one server process on one core")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_rows(data: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, float | None]]]:
    """Per target and level: TTFT median / p99 and the same minus the direct connection's."""
    direct = data.get("direct", [])
    rows: dict[str, list[dict[str, float | None]]] = {}
    for name, levels in data.items():
        rows[name] = []
        for i, lv in enumerate(levels):
            base = direct[i]["ttft_ms"] if i < len(direct) else {}
            row: dict[str, Any] = {
                "level": lv["concurrency"],
                "tokens": lv.get("answer_tokens"),
                "n": lv["ok"],
                "errors": lv["errors"],
                "med": lv["ttft_ms"]["median"],
                "p99": lv["ttft_ms"]["p99"],
                "gap_p99": lv["gap_ms"]["p99"],
                "cpu": lv.get("server_cpu_ms_per_stream"),
            }
            for key, field in (("med", "median"), ("p99", "p99")):
                b = base.get(field)
                row["added_" + key] = None if row[key] is None or b is None else row[key] - b
            rows[name].append(row)
    return rows


def frontier_of(steps: list[dict[str, Any]], threshold_ms: float) -> float | None:
    """The highest rate reached with every step up to it error-free and its added p99 TTFT
    under the threshold; None when even the lowest rate was over it."""
    best = None
    for step in steps:
        added = step.get("added_ttft_p99_ms")
        if step["errors"] or added is None or added > threshold_ms:
            break
        best = step["rate"]
    return best


def plot_sweep(rows: dict[str, list[dict[str, float | None]]], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, levels in rows.items():
        if name == "direct":
            continue
        xs = [lv["level"] for lv in levels]
        for ax, key in ((axes[0], "added_med"), (axes[1], "added_p99")):
            ax.plot(xs, [max(0.05, lv[key] or 0.0) for lv in levels], marker="o", label=name)
    for ax, title in ((axes[0], "median"), (axes[1], "p99")):
        ax.set_title(f"Added time to first token, {title}, ms (log scale)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("streams open at a time")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Concurrency sweep: 200-token answers 10 ms apart (20 tokens at 1), one server core")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def embedded_numbers(data: dict[str, Any]) -> dict[str, Any]:
    direct_rates = [r["tokens_per_second"] for r in data["direct"]["runs"][1:] if r["tokens_per_second"]]
    out: dict[str, Any] = {
        "direct_tps": med(direct_rates),
        "direct_ttft": med([r["ttft_ms"] for r in data["direct"]["runs"][1:]]),
    }
    for n in (1, 2, 4):
        runs = data.get(f"llmrelay_{n}", [])
        rates = [x for r in runs for x in (r.get("stream_tokens_per_second") or [])]
        aggregate = [r["tokens"] / (r["wall_ms"] / 1000) for r in runs if r.get("wall_ms")]
        out[n] = {
            "tps": med(rates),
            "aggregate": med(aggregate),
            "ttft": med([r["ttft_ms"]["median"] for r in runs]),
            "ttft_each": runs[-1].get("ttft_each_ms") if runs else None,
            "errors": sum(r["errors"] for r in runs),
        }
    return out


def plot_embedded(e: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    labels = ["direct\nllama-cpp-python", "llmrelay\n1 request"]
    values = [e["direct_tps"] or 0, e[1]["tps"] or 0]
    axes[0].bar(labels, values, color=["#55a868", "#4c72b0"])
    for i, v in enumerate(values):
        axes[0].text(i, v, f"{v:.1f}", ha="center", va="bottom")
    axes[0].set_title("Decoding speed of one answer, tokens/s")
    ns = [1, 2, 4]
    aggregates = [e[n]["aggregate"] or 0 for n in ns]
    axes[1].bar([f"{n} at once" for n in ns], aggregates, color="#4c72b0")
    for i, v in enumerate(aggregates):
        axes[1].text(i, v, f"{v:.1f}", ha="center", va="bottom")
    axes[1].set_title("llmrelay: aggregate tokens/s with concurrent requests")
    fig.suptitle("Embedded model (SmolLM2-135M, same file and threads)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


ONE, ONE_REDIS, TWO = "1 process, no Redis", "1 process, Redis", "2 workers, Redis"


def several_section(r: dict[str, Any], targets: list[tuple[str, str, str]], body: list[str]) -> None:
    """P8: bench/several.py (workers, Redis, resume elsewhere) and bench/redis_batch.py."""
    how = '`make bench BENCH_ARGS="--only several,redis_batch"` runs just these (Redis at `--redis`).'
    if "several" in r or "redis_batch" in r:
        body += ["## Several processes", "", how, ""]
    several = r.get("several")
    if several is not None and "error" in several:
        body += [f"bench/several.py did not run: {several['error']}", ""]
    elif several is not None:
        t = several["tokens_per_s"]
        same = several["resume_first_event_ms"]["same_instance"]
        other = several["resume_first_event_ms"]["other_instance"]
        added = statistics.median(other) - statistics.median(same)
        body += [
            f"bench/several.py: real `llmrelay serve` processes (scripted provider, 200-word answers "
            f"with no delay, a fresh SQLite file each), {several['clients']} `/chat-stream` streams at "
            f"a time for {several['seconds']:g} s per server, nothing pinned (the client shares the "
            f"cores with the servers). Load average during it: {loads(several.get('load_average'))}.",
            "",
            "| server | tokens/s | vs 1 process without Redis |",
            "| --- | ---: | ---: |",
            *[f"| {name} | {fmt(v, 0)} | {v / t[ONE]:.2f}× |" for name, v in t.items()],
            "",
            f"Resume, time to the first replayed event ({several['rounds']} rounds, an answer started on "
            "A, `Last-Event-ID` sent to A and to B on open connections): "
            f"same instance p50 {fmt(statistics.median(same), 2)} ms, other instance p50 "
            f"{fmt(statistics.median(other), 2)} ms.",
            "",
        ]
        targets.append(
            (
                "`--workers 2` ≥ 1.6× the tokens/s of one process (without Redis)",
                f"{fmt(t[TWO], 0)} vs {fmt(t[ONE], 0)} tokens/s ({t[TWO] / t[ONE]:.2f}×)",
                check(t[TWO] >= 1.6 * t[ONE]),
            )
        )
        targets.append(
            (
                "one process with Redis ≥ 85% of one without",
                f"{fmt(t[ONE_REDIS], 0)} vs {fmt(t[ONE], 0)} tokens/s ({t[ONE_REDIS] / t[ONE]:.0%})",
                check(t[ONE_REDIS] >= 0.85 * t[ONE]),
            )
        )
        targets.append(
            (
                "resume on another instance adds ≤ 5 ms to the first replayed event (p50)",
                f"{fmt(added, 2)} ms",
                check(added <= 5.0),
            )
        )
    batch = r.get("redis_batch")
    if batch is not None and "error" in batch:
        body += [f"bench/redis_batch.py did not run: {batch['error']}", ""]
    elif batch is not None:
        body += [
            f"bench/redis_batch.py: one owner log written at two paces while a follower on its own "
            f"Redis client reads it live, {batch['events']} events per run, for each batch window.",
            "",
            "| window | pace | round trips / 1000 events | follower lag p50 | p99 | owner done in |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
            *[
                f"| {row['window_ms']:g} ms | {row['pace']} | {row['round_trips_per_1000']:.0f} "
                f"| {row['lag_p50_ms']:.2f} ms | {row['lag_p99_ms']:.2f} ms | {row['seconds'] * 1000:.0f} ms |"
                for row in batch["runs"]
            ],
            "",
        ]


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS / "latest.json"
    r = json.loads(source.read_text())
    m = r["machine"]
    lines = [
        "# llmrelay benchmarks",
        "",
        f"Generated by `make bench` (bench/run.py, bench/report.py) on {r['started']}, commit "
        f"`{m['commit']}`; raw numbers in `bench/results/latest.json` (and a dated copy per run).",
        "",
    ]
    targets: list[tuple[str, str, str]] = []
    body: list[str] = []

    if "overhead" in r:
        o = r["overhead"]
        runs = len(next(iter(o["steady"].values())))
        body += [
            "## Overhead",
            "",
            f"{o['streams']} streams of {r['settings']['tokens']} tokens, {r['settings']['gap_ms']} ms apart, "
            f"against each target; {runs} runs per target, targets interleaved. Two arrival patterns: "
            f"**steady** starts the {o['streams']} streams evenly over {o['spread_seconds']} s (one answer's "
            f"length), so about {o['streams']} are open at any time and each stream's latency is that of a "
            f"server carrying {o['streams']} streams; **burst** starts all {o['streams']} at the same instant, "
            "so the last one served waits for the work of all the others. Each cell is the median over runs "
            "of that run's median or p99. *Added* is the same figure minus the direct connection's.",
            "",
        ]
        for pattern in ("steady", "burst"):
            rows = overhead_rows(o[pattern])
            plot_overhead(rows, RESULTS / f"overhead-{pattern}.png", pattern, o["streams"])
            body += [
                f"### {pattern.capitalize()}",
                "",
                f"![overhead, {pattern}](results/overhead-{pattern}.png)",
                "",
                "| target | TTFT median | TTFT p99 | added TTFT median | added TTFT p99 | total median "
                "| total p99 | added total median | added total p99 | gap median / p99 | errors |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            ]
            for name, row in rows.items():
                body.append(
                    f"| {name} | {fmt(row['ttft_med'], 2)} | {fmt(row['ttft_p99'], 2)} "
                    f"| {fmt(row['added_ttft_med'], 2)} | {fmt(row['added_ttft_p99'], 2)} | {fmt(row['total_med'])} "
                    f"| {fmt(row['total_p99'])} | {fmt(row['added_total_med'])} | {fmt(row['added_total_p99'])} "
                    f"| {fmt(row['gap_med'], 2)} / {fmt(row['gap_p99'], 1)} | {row['errors']}/{row['streams']} |"
                )
            body += ["", "All times in ms.", ""]
            lite = rows.get("litellm", {})
            for name in [n for n in rows if n.startswith("llmrelay")]:
                added = rows[name]["added_ttft_med"]
                lite_added = lite.get("added_ttft_med")
                if pattern == "burst":
                    targets.append(
                        (
                            f"{name}, {o['streams']} streams at once: added TTFT ≤ 60 ms (median)",
                            f"{fmt(added, 2)} ms",
                            check(None if added is None else added <= 60.0),
                        )
                    )
                ratio = None if added is None or not lite_added else added / lite_added
                targets.append(
                    (
                        f"{name}, {o['streams']} {'at once' if pattern == 'burst' else 'steady'}: "
                        "added TTFT ≤ 1/4 of LiteLLM's",
                        f"{fmt(added, 2)} vs {fmt(lite_added, 2)} ms (ratio {fmt(ratio, 3)})",
                        check(None if ratio is None else ratio <= 0.25),
                    )
                )

    if "sweep" in r:
        sw = sweep_rows(r["sweep"]["targets"])
        plot_sweep(sw, RESULTS / "sweep.png")
        levels = r["sweep"]["levels"]
        body += [
            "## Concurrency sweep",
            "",
            f"At each level N, N streams are open at a time against one target (targets interleaved): "
            "workers start evenly over one answer's length, then each opens a new stream as soon as its "
            f"last one ended; {r['sweep']['seconds']} s counted per level after that warm-up. Answers are "
            "200 tokens 10 ms apart (at N = 1: 20 tokens, so one stream at a time still yields enough first "
            "tokens; with nothing else open an answer's length does not change its first token's time). "
            "*Added* is the figure minus the direct connection's at the same level. *Server CPU per "
            "stream* is the server process's CPU time over the level divided by the streams it answered: "
            "unlike latency, other work on this shared machine cannot inflate it, so it is the figure to "
            "compare before/after changes by.",
            "",
            "![sweep](results/sweep.png)",
            "",
            "| target | "
            + " | ".join(f"N={n}: added TTFT median / p99" for n in levels)
            + " | "
            + " | ".join(f"N={n}: streams (errors), server CPU ms per stream" for n in levels)
            + " |",
            "| --- | " + " | ".join("---:" for _ in levels * 2) + " |",
        ]
        for name, lvs in sw.items():
            if name == "direct":
                cells = [f"{fmt(lv['med'], 2)} / {fmt(lv['p99'], 2)} (own)" for lv in lvs]
            else:
                cells = [f"{fmt(lv['added_med'], 2)} / {fmt(lv['added_p99'], 2)}" for lv in lvs]
            counts = [f"{lv['n']} ({lv['errors']}), {fmt(lv['cpu'], 2)}" for lv in lvs]
            body.append(f"| {name} | " + " | ".join(cells + counts) + " |")
        body += [
            "",
            "All times in ms; the direct row shows its own TTFT (what the others' is measured from).",
            "",
        ]
        lite_levels = {lv["level"]: lv for lv in sw.get("litellm", [])}
        for name in [n for n in sw if n.startswith("llmrelay")]:
            for lv in sw[name]:
                lite_lv = lite_levels.get(lv["level"])
                if lv["level"] == 1:
                    targets.append(
                        (
                            f"{name}, concurrency 1: added TTFT ≤ 1 ms (median)",
                            f"{fmt(lv['added_med'], 2)} ms",
                            check(None if lv["added_med"] is None else lv["added_med"] <= 1.0),
                        )
                    )
                lite_added = lite_lv["added_med"] if lite_lv else None
                ratio = None if lv["added_med"] is None or not lite_added else lv["added_med"] / lite_added
                targets.append(
                    (
                        f"{name}, concurrency {lv['level']}: added TTFT ≤ 1/4 of LiteLLM's (median)",
                        f"{fmt(lv['added_med'], 2)} vs {fmt(lite_added, 2)} ms (ratio {fmt(ratio, 3)})",
                        check(None if ratio is None else ratio <= 0.25),
                    )
                )

    if "frontier" in r:
        fr = r["frontier"]
        thresholds = fr["thresholds_ms"]
        body += [
            "## Throughput frontier",
            "",
            "Open loop: streams start at a fixed rate (requests/s) whether or not earlier ones ended, at "
            f"rising rates {', '.join(fmt(x, 0) for x in fr['rates'])} req/s (each for "
            f"{r['settings'].get('frontier_seconds')} s, at least 30 streams), answers of {fr['tokens']} tokens "
            "10 ms apart. *Added p99* is a rate's p99 TTFT minus the direct connection's p99 at the same "
            "rate. The frontier at a threshold is the highest rate at which the target, at that rate and "
            "every lower one, stayed error-free with its added p99 under the threshold (– : not even at the "
            "lowest rate). A target leaves the climb once its added p99 passes the largest threshold.",
            "",
            "| target | "
            + " | ".join(f"req/s at p99 added < {fmt(t, 0)} ms" for t in thresholds)
            + " | added p99 per rate (ms) |",
            "| --- | " + " | ".join("---:" for _ in thresholds) + " | --- |",
        ]
        for name, steps in fr["targets"].items():
            if name == "direct":
                per_rate = ", ".join(
                    f"{fmt(st['rate'], 0)}: {fmt(st['ttft_ms']['p99'], 1)} (own)" for st in steps
                )
                body.append("| direct | " + " | ".join("–" for _ in thresholds) + f" | {per_rate} |")
                continue
            per_rate = ", ".join(
                f"{fmt(st['rate'], 0)}: {fmt(st.get('added_ttft_p99_ms'), 1)}"
                + (f" ({st['errors']} errors)" if st["errors"] else "")
                for st in steps
            )
            cells = [fmt(frontier_of(steps, t), 0) for t in thresholds]
            body.append(f"| {name} | " + " | ".join(cells) + f" | {per_rate} |")
        body.append("")

    if "throughput" in r:
        tp = r["throughput"]
        plot_throughput(tp, RESULTS / "throughput.png")
        body += [
            "## Throughput",
            "",
            f"Closed loop: N workers each open a stream as soon as their last one ended, "
            f"{r['settings']['seconds_per_level']} s per level; the upstream sends each 200-token answer "
            "as fast as it can. Targets are interleaved within each level, "
            f"{r['settings'].get('passes', 1)} passes; each row is the pass with the most tokens/s (other work "
            "on this shared machine can only slow a pass down; every pass's figure is in the JSON). The "
            "server under test is pinned to one core; *server CPU* is the share of that core it used "
            "(well under 1.00 means it was waiting, or the core was taken by something else). *direct* is "
            "the client + fake upstream alone (the ceiling of this rig).",
            "",
            "![throughput](results/throughput.png)",
            "",
            "| target | concurrency | tokens/s | answers/s | TTFT median ms | TTFT p99 ms | errors | server CPU |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, levels in tp.items():
            for lv in levels:
                body.append(
                    f"| {name} | {lv['concurrency']} | {fmt(lv['tokens_per_second'], 0)} "
                    f"| {fmt(lv['requests_per_second'], 1)} | {fmt(lv['ttft_ms']['median'], 1)} "
                    f"| {fmt(lv['ttft_ms']['p99'], 1)} | {lv['errors']}{' (server was stopped from outside)' if lv.get('server_exited') else ''} "
                    f"| {fmt(lv.get('server_cpu_share'), 2)} |"
                )
        body.append("")
        lite_peak = peak(tp.get("litellm", []))
        floor_peak = peak(tp.get("passthrough", []))
        for name in [n for n in tp if n.startswith("llmrelay")]:
            relay_peak = peak(tp[name])
            if lite_peak:
                targets.append(
                    (
                        f"{name}: peak throughput ≥ 5× LiteLLM's proxy",
                        f"{fmt(relay_peak, 0)} vs {fmt(lite_peak, 0)} tokens/s "
                        f"({fmt(relay_peak / lite_peak, 2)}×)",
                        check(relay_peak >= 5 * lite_peak),
                    )
                )
            if floor_peak:
                targets.append(
                    (
                        f"{name}: peak tokens/s ≥ 80% of the pass-through proxy",
                        f"{fmt(relay_peak, 0)} vs {fmt(floor_peak, 0)} tokens/s "
                        f"({fmt(100 * relay_peak / floor_peak, 0)}%)",
                        check(relay_peak >= 0.8 * floor_peak),
                    )
                )

    if "many_streams" in r:
        body += [
            "## Many open streams",
            "",
            "All streams started at once (connects at most 256 at a time) against one llmrelay process "
            "with the scripted provider and default settings (no key configured: each request's bearer "
            "token is looked up in the store), so what is measured is llmrelay's own cost per open stream "
            "(request handling, the generation task, the SSE response, metrics). *Peak open* is llmrelay's "
            "own `llmrelay_open_streams` gauge, scraped every 0.5 s during the run.",
            "",
            "| provider | answer | streams | ok | errors | peak open | TTFT median / p99 ms "
            "| total median / p99 ms | RSS before MiB | RSS peak MiB | bytes per stream | error kinds |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for name, s in r["many_streams"].items():
            kinds = "; ".join(f"{k} ×{v}" for k, v in list(s["error_kinds"].items())[:3]) or "–"
            body.append(
                f"| {name} | {s.get('answer', '')} | {s['streams']} | {s['ok']} | {s['errors']} "
                f"| {s.get('peak_open_streams', '–')} | {fmt(s['ttft_ms']['median'])} / "
                f"{fmt(s['ttft_ms']['p99'])} | {fmt(s['total_ms']['median'])} / {fmt(s['total_ms']['p99'])} "
                f"| {s['rss_before_mib']} | {s['rss_peak_mib']} | {s['bytes_per_stream']:,} | {kinds} |"
            )
            targets.append(
                (
                    f"{s['streams']:,} streams ({name}): 0 errors, ≤ 1 GiB RSS",
                    f"{s['errors']} errors, {s['rss_peak_mib']} MiB",
                    check(s["errors"] == 0 and s["rss_peak_mib"] <= 1024),
                )
            )
        body.append("")

    if "embedded" in r:
        e = embedded_numbers(r["embedded"])
        plot_embedded(e, RESULTS / "embedded.png")
        d = r["embedded"]["direct"]
        body += [
            "## Embedded model",
            "",
            f"`{d['model']}`, {d['threads']} threads, the same prompt and chat template; decoding speed is "
            "(tokens after the first) / (time from first to last token) of each answer. Concurrent requests "
            "share the one model, served first come first served.",
            "",
            "![embedded](results/embedded.png)",
            "",
            "| run | tokens/s per answer (median) | aggregate tokens/s | TTFT median ms | TTFT of each request ms |",
            "| --- | ---: | ---: | ---: | --- |",
            f"| llama-cpp-python directly | {fmt(e['direct_tps'])} | – | {fmt(e['direct_ttft'])} | – |",
        ]
        for n in (1, 2, 4):
            each = ", ".join(fmt(x, 0) for x in (e[n]["ttft_each"] or []))
            body.append(
                f"| llmrelay, {n} at once | {fmt(e[n]['tps'])} | {fmt(e[n]['aggregate'])} "
                f"| {fmt(e[n]['ttft'])} | {each} |"
            )
        body.append("")
        if e["direct_tps"] and e[1]["tps"]:
            share = e[1]["tps"] / e["direct_tps"]
            targets.append(
                (
                    "embedded ≥ 95% of direct llama-cpp-python tokens/s",
                    f"{fmt(e[1]['tps'])} vs {fmt(e['direct_tps'])} ({fmt(100 * share, 0)}%)",
                    check(share >= 0.95),
                )
            )
        if e[4]["aggregate"] and e[1]["aggregate"]:
            targets.append(
                (
                    "4 concurrent: aggregate ≥ that of 1",
                    f"{fmt(e[4]['aggregate'])} vs {fmt(e[1]['aggregate'])} tokens/s",
                    check(e[4]["aggregate"] >= e[1]["aggregate"]),
                )
            )

    if "startup" in r:
        s = r["startup"]
        ask = s["ask_local"]
        body += [
            "## Start-up",
            "",
            "From starting the process to `/healthz` answering 200 (polled every 10 ms), and from starting "
            '`llmrelay ask "Say hello."` to the first byte of its answer on stdout; three runs each.',
            "",
            "| what | runs (s) | median (s) |",
            "| --- | --- | ---: |",
            f"| `llmrelay serve`, embedded model → /healthz | {s['healthz_local_s']} | "
            f"{fmt(med(s['healthz_local_s']), 2)} |",
            *[
                f"| `llmrelay serve`, embedded model → /healthz, {k.split('(')[1].rstrip(')')} | {v} "
                f"| {fmt(med(v), 2)} |"
                for k, v in s.items()
                if k.startswith("healthz_local_s (")
            ],
            f"| `llmrelay serve`, openai-compatible → /healthz | {s['healthz_openai_compatible_s']} | "
            f"{fmt(med(s['healthz_openai_compatible_s']), 2)} |",
            f"| `llmrelay ask`, embedded model → first token | {[a['first_byte_s'] for a in ask]} | "
            f"{fmt(med([a['first_byte_s'] for a in ask]), 2)} |",
            "",
        ]
        worst = max(s["healthz_local_s"] + s["healthz_openai_compatible_s"])
        targets.append(
            (
                "/healthz answers within 2 s of start",
                f"{fmt(med(s['healthz_local_s']), 2)} s median, {fmt(worst, 2)} s worst",
                check(worst <= 2.0),
            )
        )
        worst_ask = max(a["first_byte_s"] for a in ask)
        targets.append(
            (
                "`llmrelay ask` first token within 2 s",
                f"{fmt(med([a['first_byte_s'] for a in ask]), 2)} s median, {fmt(worst_ask, 2)} s worst",
                check(worst_ask <= 2.0),
            )
        )

    several_section(r, targets, body)

    lines += ["## Targets", "", "| target | measured | |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in targets]
    lines += [
        "",
        "## Machine and versions",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}, "
        f"open-files limit {m['fd_limit']}. Load average (1, 5, 15 min) at the start "
        f"{loads(m.get('load_average_start'))}, at the end {loads(m.get('load_average_end'))}: on 2 cores, "
        "anything above "
        "~1 is other work competing with the bench (this machine is shared while it runs). "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + ".",
        "",
        "## Method",
        "",
        "- Every server runs as a real subprocess bound to 127.0.0.1: `llmrelay serve` configured only "
        "through environment variables (metrics on, INFO logging to a file, SQLite store), LiteLLM's "
        "proxy (`litellm --num_workers 1`, master key set) from its own virtualenv, the pass-through "
        "proxy (bench/passthrough.py: uvicorn + httpx, no parsing), and the fake upstream "
        "(bench/fake_upstream.py: raw asyncio + httptools + uvloop).",
        "- The server under test is pinned to core 1; the load generator and the fake upstream share "
        "core 0. The load generator (bench/load.py, raw asyncio + httptools) parses every SSE event and "
        "checks each answer byte for byte against what the upstream sent (text with spaces, a line "
        "break and non-ASCII); a stream that differs counts as an error.",
        "- TTFT is from opening the connection to the first text token; *total* to the last event; "
        "*gap* between consecutive tokens of a stream.",
        "",
    ]
    notes = BENCH / "notes.md"
    lines += body
    if notes.exists():
        lines += [notes.read_text()]
    (BENCH / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
