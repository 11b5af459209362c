"""The batch window of a generation's log in Redis: round trips and a follower's lag.

    PYTHONPATH=src python bench/redis_batch.py [--redis redis://127.0.0.1:6379/0] [--events 2000]
        [--json PATH]

For each window (0 = only what is appended in the same loop turn), one owner log
(`RedisEventLog`) is written at two paces — as fast as the loop goes (a fast upstream), and one
event per millisecond (a quick model) — while a follower (`FollowedLog`, its own Redis client,
as another process would have) reads it live. Printed: round trips per 1,000 events, the
follower's lag from append to arrival (p50 / p99), and how long the owner took to get every
event into Redis. Takes a few seconds per window. `make bench` runs it (bench/run.py,
`--only redis_batch`) and puts its numbers in RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time

from redis.asyncio import Redis

from llmrelay.providers.base import Finished, TextDelta
from llmrelay.streams import Identity
from llmrelay.streams_redis import FollowedLog, RedisEventLog
from llmrelay.streams_redis.codec import Keys

WINDOWS_MS = (0.0, 1.0, 5.0, 20.0)


async def one_run(url: str, window_ms: float, events: int, pace_s: float) -> dict[str, float]:
    keys = Keys(f"llmrelay-bench-{secrets.token_hex(4)}:")
    writer_client, reader_client = Redis.from_url(url), Redis.from_url(url)
    generation_id = "gen_bench"
    epoch = secrets.token_hex(4)
    owned = RedisEventLog(
        writer_client,
        keys,
        generation_id,
        epoch=epoch,
        owner="bench",
        meta={},
        identity=Identity(route="bench", model="bench"),
        retention_seconds=10,
        window_seconds=window_ms / 1000,
    )
    follower = FollowedLog(reader_client, keys, generation_id, epoch)
    lags: list[float] = []

    async def follow() -> None:
        seen = 0
        while not follower.closed or len(follower) > seen:
            fresh = follower.read(seen)
            now = time.perf_counter()
            for event in fresh:
                if isinstance(event, TextDelta):
                    lags.append(now - float(event.text))
            seen += len(fresh)
            if follower.closed:
                break
            await follower.wait_beyond(seen)

    reading = asyncio.ensure_future(follow())
    started = time.perf_counter()
    for i in range(events):
        owned.append(TextDelta(repr(time.perf_counter())))
        if pace_s:
            await asyncio.sleep(pace_s)
        elif i % 64 == 63:
            await asyncio.sleep(0)  # let the writer and follower run, as a streaming provider would
    owned.append(Finished("stop"))
    owned.close()
    await owned.drained()
    written = time.perf_counter() - started
    await asyncio.wait_for(reading, 30)
    async for key in writer_client.scan_iter(match=f"{keys.prefix}*"):
        await writer_client.delete(key)
    await writer_client.aclose()
    await reader_client.aclose()
    lags.sort()
    return {
        "round_trips_per_1000": owned.writes * 1000 / (events + 1),
        "lag_p50_ms": statistics.median(lags) * 1000,
        "lag_p99_ms": lags[int(len(lags) * 0.99) - 1] * 1000,
        "seconds": written,
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> dict[str, object]:
    rows = []
    print(f"{args.events} events per run; lag = append on the owner -> arrival at a follower")
    print("| window | pace | round trips / 1000 events | follower lag p50 | p99 | owner done in |")
    print("| --- | --- | --- | --- | --- | --- |")
    for pace_s, pace in ((0.0, "as fast as possible"), (0.001, "1 event / ms")):
        for window_ms in WINDOWS_MS:
            r = await one_run(args.redis, window_ms, args.events, pace_s)
            rows.append({"window_ms": window_ms, "pace": pace, **r})
            print(
                f"| {window_ms:g} ms | {pace} | {r['round_trips_per_1000']:.0f} | {r['lag_p50_ms']:.2f} ms "
                f"| {r['lag_p99_ms']:.2f} ms | {r['seconds'] * 1000:.0f} ms |"
            )
    return {"events": args.events, "runs": rows}


if __name__ == "__main__":
    given = arguments()
    numbers = asyncio.run(main(given))
    if given.json:
        with open(given.json, "w") as out:
            json.dump(numbers, out, indent=1)
