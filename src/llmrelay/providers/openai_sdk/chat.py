"""The `openai-compatible` backend: Chat Completions through `AsyncOpenAI(base_url=…)`.

For servers that speak OpenAI's older, more widely copied API: vLLM, llama.cpp's server,
Ollama, LM Studio. Each chunk carries a delta in `choices[0].delta.content` (and, where the
server sends them, `reasoning_content` / `reasoning`, `refusal` and the tokens' `logprobs`,
kept apart from the text); the last choice
chunk has a `finish_reason`; with `stream_options.include_usage` a final chunk with no choices
carries the usage. A stream that ends without a `finish_reason` was cut short, and says so (the
shared `OpenAISDKProvider.stream` reads the body, closes it and translates failures).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmrelay.providers.base import (
    Finished,
    FinishReason,
    GenerationRequest,
    ProviderEvent,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    Usage,
)
from llmrelay.providers.openai_sdk.client import (
    OpenAISDKProvider,
    ReportedFailure,
    StreamParser,
)
from llmrelay.providers.openai_sdk.shapes import cached_tokens, chat_extras, chat_message, token_logprob

# Chat Completions' reasons, in llmrelay's words; anything else ended normally.
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


class ChatCompletionsProvider(OpenAISDKProvider):
    name = "openai-compatible"
    path = "/chat/completions"
    # Chat Completions has no top_k (some servers take one, but not as the API defines it).
    cannot = frozenset({"top_k"})

    def endpoint(self, request: GenerationRequest) -> str:
        # A raw prompt goes to the upstream's legacy `/completions` (no chat template).
        return "/completions" if request.prompt is not None else self.path

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        if request.prompt is not None:
            return self._completion_body(request)
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [chat_message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            # `max_tokens`, not `max_completion_tokens`: the name compatible servers know.
            "max_tokens": self.output_limit(request),
            **self.sampling(request),
            **chat_extras(request),
        }
        if request.stop:
            params["stop"] = list(request.stop)
        return params

    def _completion_body(self, request: GenerationRequest) -> dict[str, Any]:
        """A raw prompt, for the upstream's legacy `/completions` (no chat template): its
        chunks are Chat's but for `choices[0].text` in place of the delta."""
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "prompt": request.prompt,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": self.output_limit(request),
            **self.sampling(request),
            # Only seed and penalties can be set here: a raw prompt comes with no tools or format.
            **chat_extras(request),
        }
        if request.stop:
            params["stop"] = list(request.stop)
        return params

    def parser(self) -> StreamParser:
        return ChatParser()


class ChatParser(StreamParser):
    def __init__(self) -> None:
        super().__init__()
        self._finish: str | None = None
        self._usage: Usage | None = None

    def read_event(self, event: dict[str, Any]) -> str | None:
        error = event.get("error")
        if error is not None:
            detail = error if isinstance(error, dict) else {"message": str(error)}
            raise ReportedFailure(detail.get("message"), detail.get("code"))
        reported = event.get("usage")
        if reported:
            # prompt_tokens count the cached ones too, as llmrelay's input tokens do.
            self._usage = Usage(
                reported.get("prompt_tokens"),
                reported.get("completion_tokens"),
                cache_read_tokens=cached_tokens(reported.get("prompt_tokens_details")),
            )
        choices = event.get("choices")
        if not choices:
            return None
        choice = choices[0]
        if choice.get("finish_reason") is not None:
            # Read on: the usage chunk comes after the finishing one.
            self._finish = choice["finish_reason"]
            self.complete = True
        logprobs = choice.get("logprobs")
        if "text" in choice:  # a legacy /completions chunk (a raw prompt)
            legacy: str | None = choice["text"]
            if legacy and logprobs:
                self.pending.append(TextDelta(legacy, legacy_logprobs(logprobs)))
                return None
            return legacy
        # Some servers leave `delta` out of the finishing chunk; the first chunk often
        # carries only the role, with "" as content.
        delta = choice.get("delta") or {}
        # Reasoning first: a server that sends it and text in one chunk reasoned before answering.
        # vLLM, DeepSeek and llama.cpp's server name it `reasoning_content`; newer vLLM and
        # OpenRouter `reasoning`.
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self.pending.append(ReasoningDelta(reasoning))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self.pending.append(RefusalDelta(refusal))
        text: str | None = delta.get("content")
        if text and (logprobs or self.pending):
            # Through `pending`, to keep the order, and with its tokens' log probabilities.
            self.pending.append(TextDelta(text, chat_logprobs(logprobs) if logprobs else ()))
            text = None
        calls = delta.get("tool_calls")
        if calls:
            for position, call in enumerate(calls):
                self.pending.append(_tool_call_delta(call, position))
        return text

    def closing_events(self) -> Iterable[ProviderEvent]:
        if self._usage is not None:
            yield self._usage
        yield Finished(_FINISH_REASONS.get(self._finish or "stop", "stop"))


def _tool_call_delta(call: dict[str, Any], position: int) -> ToolCallDelta:
    """One piece of a streamed call. Some servers omit `index` (openai-python PR #3246) or send
    a whole call per chunk (Ollama): the position in the chunk stands in for a missing index."""
    index = call.get("index")
    function = call.get("function") or {}
    return ToolCallDelta(
        index=index if isinstance(index, int) else position,
        id=call.get("id") or None,
        name=function.get("name") or None,
        arguments=function.get("arguments") or "",
    )


def chat_logprobs(logprobs: dict[str, Any]) -> tuple[TokenLogprob, ...]:
    """A chunk's `choices[0].logprobs.content`, as given (bytes too: a token may be part of a
    character)."""
    return tuple(token_logprob(item) for item in logprobs.get("content") or ())


def legacy_logprobs(logprobs: dict[str, Any]) -> tuple[TokenLogprob, ...]:
    """The legacy endpoint's parallel lists (tokens, token_logprobs, top_logprobs as
    {token: logprob}) as tokens with their alternatives, most likely first."""
    tokens = logprobs.get("tokens") or []
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    out = []
    for token, value, top in zip(tokens, values, tops, strict=False):
        ranked = sorted((top or {}).items(), key=lambda pair: pair[1], reverse=True)
        out.append(
            TokenLogprob(
                str(token),
                float(value) if value is not None else 0.0,
                top=tuple(TokenLogprob(str(t), float(v)) for t, v in ranked),
            )
        )
    return tuple(out)
