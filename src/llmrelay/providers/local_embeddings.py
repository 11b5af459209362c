"""Embeddings from the embedded model's own GGUF file: pooled vectors, computed off the loop.

A llama.cpp context made for generating cannot embed (embeddings are a context parameter),
so embedding needs a second `Llama(..., embedding=True)` context on the same file. It is
loaded on first use, not at start-up: most servers never embed, and it costs a second copy of
the weights in memory. One embedding call at a time runs on it (a context is not safe to
share between threads), in a worker thread; a caller that is cancelled (its client left)
keeps the turn until the thread is done with the context, so the next call never overlaps it.

The vectors are the mean of the last hidden states over the input's tokens (the file declares
no pooling of its own: it is a chat model), normalised to length 1 as OpenAI's are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmrelay.providers.base import EmbeddingRequest, Embeddings, InvalidParameter, ProviderError

log = logging.getLogger(__name__)


class LocalEmbedder:
    def __init__(
        self, path: Path, *, dimensions: int, context_tokens: int, threads: int, tokenize: Any
    ) -> None:
        self.path = path
        # n_embd of the file, known from the generating context before this one is loaded.
        self.dimensions = dimensions
        self.context_tokens = context_tokens
        self._threads = threads
        # The generating context's tokenizer (the same vocabulary): inputs are measured on
        # the loop before the turn is taken, so a too-long one is refused without waiting.
        self._tokenize = tokenize
        self._llama: Any = None
        self._turn = asyncio.Lock()

    def texts_of(self, request: EmbeddingRequest) -> list[str]:
        """The inputs as texts, each within the context; otherwise `InvalidParameter` naming it."""
        if request.dimensions not in (None, self.dimensions):
            raise InvalidParameter(
                "dimensions",
                f"dimensions: this model's embeddings have {self.dimensions} dimensions; "
                "it cannot shorten them.",
            )
        texts: list[str] = []
        for index, item in enumerate(request.inputs):
            if not isinstance(item, str):
                raise InvalidParameter("input", "input: this model takes text, not token arrays.")
            tokens = len(self._tokenize(item.encode("utf-8"), add_bos=True))
            if tokens > self.context_tokens:
                raise InvalidParameter(
                    f"input[{index}]",
                    f"input[{index}] takes {tokens} tokens; this model embeds at most "
                    f"{self.context_tokens} per input.",
                    kind="context_length_exceeded",
                )
            texts.append(item)
        return texts

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        texts = self.texts_of(request)
        async with self._turn:
            if self._llama is None:
                self._llama = await asyncio.to_thread(self._load)
            llama = self._llama
            worker = asyncio.get_running_loop().run_in_executor(None, _embed, llama, texts)
            try:
                vectors, tokens = await asyncio.shield(worker)
            except (ValueError, RuntimeError) as exc:
                log.error("local embedding failed: %r", exc)
                raise ProviderError("The local model failed while embedding.", status=500) from None
            finally:
                # Cancelled or not, hold the turn until the thread no longer uses the context.
                await asyncio.wait([worker])
        return Embeddings(vectors, tokens)

    def _load(self) -> Any:
        import llama_cpp

        try:
            return llama_cpp.Llama(
                model_path=str(self.path),
                embedding=True,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                n_ctx=self.context_tokens,
                # One input is decoded in one batch: the batch holds the longest input allowed.
                n_batch=self.context_tokens,
                n_threads=self._threads,
                n_threads_batch=self._threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            log.error("could not load %s for embeddings: %r", self.path, exc)
            raise ProviderError(
                "The local model could not be loaded for embeddings.", status=503, kind="not_configured"
            ) from None

    async def aclose(self) -> None:
        async with self._turn:
            llama, self._llama = self._llama, None
            if llama is not None:
                await asyncio.to_thread(llama.close)


def _embed(llama: Any, texts: Sequence[str]) -> tuple[list[list[float]], int]:
    # Runs in a worker thread. `truncate=False`: inputs were measured; a cut input would be
    # a different text's embedding, returned as if it were this one's.
    vectors, tokens = llama.embed(list(texts), normalize=True, truncate=False, return_count=True)
    return vectors, int(tokens)
