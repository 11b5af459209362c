"""The embedded model without llmrelay: llama-cpp-python called directly, as the baseline.

Same GGUF file, same threads, same context size, same chat template and the same prompt as
llmrelay's local provider uses; streams `runs` answers one after another and prints JSON:
time to first token and decoding rate (tokens after the first / the time they took), counted
the way the load generator counts llmrelay's stream (one streamed piece = one token).

Runs in the project's virtualenv (it imports llmrelay only to find the default model file).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prompt", default="Say something.")
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()

    from llama_cpp import Llama, llama_chat_format

    from llmrelay.providers.local import default_model_path

    path = args.model or default_model_path()
    started = time.perf_counter()
    llama = Llama(
        model_path=str(path),
        n_ctx=args.context,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )
    load_seconds = time.perf_counter() - started
    meta = llama.metadata
    eos = llama._model.token_get_text(int(meta["tokenizer.ggml.eos_token_id"]))
    bos_id = meta.get("tokenizer.ggml.bos_token_id")
    bos = llama._model.token_get_text(int(bos_id)) if bos_id is not None else ""
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=meta["tokenizer.chat_template"],
        eos_token=eos,
        bos_token=bos,
        stop_token_ids=[llama.token_eos()],
    )
    formatted = formatter(messages=[{"role": "user", "content": args.prompt}])
    stops = [formatted.stop] if isinstance(formatted.stop, str) else list(formatted.stop or [])
    runs = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        first = last = None
        pieces = 0
        for chunk in llama.create_completion(
            prompt=formatted.prompt, max_tokens=args.max_tokens, stop=stops, stream=True
        ):
            if chunk["choices"][0]["text"]:
                now = time.perf_counter()
                first = first or now
                last = now
                pieces += 1
        assert first is not None and last is not None
        decode = last - first
        runs.append(
            {
                "ttft_ms": round((first - t0) * 1000, 2),
                "tokens": pieces,
                "tokens_per_second": round((pieces - 1) / decode, 2) if decode > 0 else None,
                "total_ms": round((last - t0) * 1000, 2),
            }
        )
    print(
        json.dumps(
            {
                "model": path.name,
                "threads": args.threads,
                "load_seconds": round(load_seconds, 3),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
