"""The floor: a minimal pass-through ASGI proxy on the same stack as llmrelay (uvicorn + httpx).

It forwards each request to the upstream as it is and streams the upstream's bytes back as
they come: no parsing, no validation, no framing. Whatever llmrelay costs beyond this is what
its own work (validation, the generation task, SSE framing, metrics) costs.

Run: python bench/passthrough.py --port 9300 --upstream http://127.0.0.1:9100
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
import uvicorn

HOP_BY_HOP = {b"host", b"connection", b"content-length", b"transfer-encoding", b"keep-alive"}


def make_app(upstream: str) -> Any:
    client: httpx.AsyncClient | None = None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal client
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
                    client = httpx.AsyncClient(base_url=upstream, limits=limits, timeout=60)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if client is not None:
                        await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert client is not None
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        path = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        request = client.build_request(scope["method"], path, headers=headers, content=body)
        response = await client.send(request, stream=True)
        try:
            out = [
                (k.encode(), v.encode()) for k, v in response.headers.items() if k.encode() not in HOP_BY_HOP
            ]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Minimal pass-through proxy (the benchmark's floor).")
    parser.add_argument("--port", type=int, default=9300)
    parser.add_argument("--upstream", default="http://127.0.0.1:9100")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
