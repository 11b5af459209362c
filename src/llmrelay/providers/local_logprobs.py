"""Log probabilities from the embedded model: a context that keeps every token's logits.

llama-cpp-python computes a completion's logprobs from the logits of each position, which a
context only keeps when made with `logits_all=True` (otherwise it refuses: "logprobs is not
supported for models created with logits_all=False"). Keeping them costs memory (a float per
vocabulary entry per context position) and time on every prompt (the output layer runs for
each of its tokens), which no other answer should pay. So, as for embeddings, the generating
context stays as it is and a second context on the same file, with `logits_all`, is loaded on
first use and serves only requests that ask for logprobs. The weights are memory-mapped, so
the file's pages are shared; the second context adds its own KV cache and logits.

It decodes under the provider's one turn (LocalProvider._turn), like every answer: one decode
at a time on the machine's cores.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from llmrelay.providers.base import ProviderError, TokenLogprob

log = logging.getLogger(__name__)


def load_scoring_context(path: Path, *, context_tokens: int, threads: int) -> Any:
    """A `Llama` on `path` that keeps the logits of every position (blocking: run off the loop)."""
    from llama_cpp import Llama

    try:
        return Llama(
            model_path=str(path),
            n_ctx=context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=True,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        log.error("could not load %s for log probabilities: %r", path, exc)
        raise ProviderError(
            "The local model could not be loaded for log probabilities.", status=503, kind="not_configured"
        ) from None


def chunk_logprobs(text: str, logprobs: dict[str, Any] | None, alternatives: int) -> tuple[TokenLogprob, ...]:
    """One streamed chunk's `logprobs` (llama-cpp-python's legacy shape: parallel lists, the
    alternatives as {token: logprob} with the chosen token added) as tokens, each with its
    `alternatives` likeliest, most likely first.

    A chunk of one token is named by the chunk's own text, so the tokens joined are the text
    the client got (the last token before a stop sequence is cut to what precedes it)."""
    if not logprobs:
        return ()
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    out = []
    for token, value, top in zip(tokens, values, tops, strict=False):
        ranked = sorted((top or {}).items(), key=lambda pair: pair[1], reverse=True)[:alternatives]
        name = text if len(tokens) == 1 else str(token)
        out.append(
            TokenLogprob(
                name,
                float(value),
                top=tuple(TokenLogprob(str(t), float(v)) for t, v in ranked),
            )
        )
    return tuple(out)
