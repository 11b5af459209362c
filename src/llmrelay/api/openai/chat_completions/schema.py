"""The request body of /v1/chat/completions, what of it llmrelay refuses, and its messages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from llmrelay.api.openai.errors import OpenAIError
from llmrelay.api.openai.params import (
    StreamOptions,
    Strict,
    Temperature,
    TextPart,
    TopP,
    check_length,
    format_type,
    refuse,
    role,
    text_of,
)
from llmrelay.providers.base import ChatMessage


class ChatMessageIn(Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None


class ChatCompletionRequest(Strict):
    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    temperature: float | None = Temperature
    top_p: float | None = TopP
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1)
    # Accepted and ignored: they change nothing about the answer's text.
    user: str | None = None
    seed: int | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    parallel_tool_calls: bool | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    # Known to OpenAI, refused by `unsupported()` unless neutral.
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: Any = None
    prediction: Any = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    web_search_options: Any = None


def unsupported_chat(body: ChatCompletionRequest) -> OpenAIError | None:
    """The first parameter this server cannot honour, as a 400; None when all is well."""
    if body.n is not None and body.n > 1:
        return refuse("n", "only n=1 is supported (one answer per request).")
    if body.tools or body.functions:
        return refuse("tools" if body.tools else "functions", "tools (function calling) are not supported.")
    if body.tool_choice not in (None, "none", "auto") or body.function_call not in (None, "none", "auto"):
        return refuse("tool_choice", "tools (function calling) are not supported.")
    if body.logprobs or body.top_logprobs:
        return refuse("logprobs" if body.logprobs else "top_logprobs", "log probabilities are not supported.")
    if format_type(body.response_format) not in (None, "text"):
        return refuse("response_format", "only text answers are supported (no JSON mode or schema).")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(body, name):
            return refuse(name, "penalties are not supported; leave it unset or 0.")
    if body.logit_bias:
        return refuse("logit_bias", "logit_bias is not supported.")
    if body.modalities not in (None, ["text"]):
        return refuse("modalities", "only text output is supported.")
    for name in ("audio", "prediction", "reasoning_effort", "verbosity", "web_search_options"):
        if getattr(body, name) is not None:
            return refuse(name, "not supported by this server.")
    if body.stream_options is not None and not body.stream:
        return OpenAIError(400, "stream_options is only allowed when stream is true.", param="stream_options")
    stops = [body.stop] if isinstance(body.stop, str) else body.stop or []
    if len(stops) > 4:
        return OpenAIError(400, "stop: at most 4 stop sequences.", param="stop")
    return None


def chat_messages(body: ChatCompletionRequest, max_chars: int) -> list[ChatMessage]:
    messages = [
        ChatMessage(role(m.role), text_of(m.content, f"messages[{i}].content"))
        for i, m in enumerate(body.messages)
    ]
    check_length(messages, max_chars, "messages")
    return messages
