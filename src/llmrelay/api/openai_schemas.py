"""Request bodies of /v1/chat/completions and /v1/responses, and what of them llmrelay does.

Unknown parameters are refused, as OpenAI refuses them. Parameters OpenAI knows but llmrelay
cannot honour (n > 1, tools, logprobs, JSON output…) are accepted by the schema and refused by
`unsupported()` with a 400 naming the parameter: a client must learn it did not get what it
asked for, instead of getting something else quietly. Hints that change nothing about a text
answer (user, seed, metadata, service_tier…) are accepted and ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmrelay.api.openai_errors import OpenAIError
from llmrelay.providers.base import ChatMessage, Role

Temperature = Field(None, ge=0, le=2, description="Sampling temperature, 0 to 2.")
TopP = Field(None, ge=0, le=1, description="Nucleus sampling, 0 to 1.")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: str = Field(description="Only text parts are supported ('text', 'input_text', 'output_text').")
    text: str | None = None
    # OpenAI's parts carry these; accepted so a message read back from OpenAI can be sent again.
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None
    # Other part kinds (image_url, input_audio, file…) have more keys; they are refused by type.
    model_config = ConfigDict(extra="allow")


class ChatMessageIn(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None


class StreamOptions(_Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ChatCompletionRequest(_Strict):
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


class InputMessage(_Strict):
    type: Literal["message"] | None = None
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    # Present on output messages read back from a response; accepted so they can be sent again.
    id: str | None = None
    status: str | None = None


class ResponsesRequest(_Strict):
    model: str = Field(min_length=1)
    input: str | list[InputMessage]
    instructions: str | None = None
    previous_response_id: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Temperature
    top_p: float | None = TopP
    stream: bool | None = False
    store: bool | None = True
    metadata: dict[str, str] | None = None
    stream_options: StreamOptions | None = None
    # Accepted and ignored.
    user: str | None = None
    service_tier: str | None = None
    parallel_tool_calls: bool | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    # Refused by `unsupported()` unless neutral.
    tools: list[Any] | None = None
    tool_choice: Any = None
    include: list[str] | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    background: bool | None = None
    conversation: Any = None
    prompt: Any = None
    top_logprobs: int | None = None
    max_tool_calls: int | None = None


def _refuse(param: str, why: str) -> OpenAIError:
    return OpenAIError(400, f"{param}: {why}", param=param, code="unsupported_parameter")


def _format_type(value: dict[str, Any] | None, key: str | None = None) -> str | None:
    """The `type` of a response format (chat: response_format; responses: text.format)."""
    if not value:
        return None
    inner = value.get(key) if key else value
    return inner.get("type") if isinstance(inner, dict) else None


def unsupported_chat(body: ChatCompletionRequest) -> OpenAIError | None:
    """The first parameter this server cannot honour, as a 400; None when all is well."""
    if body.n is not None and body.n > 1:
        return _refuse("n", "only n=1 is supported (one answer per request).")
    if body.tools or body.functions:
        return _refuse("tools" if body.tools else "functions", "tools (function calling) are not supported.")
    if body.tool_choice not in (None, "none", "auto") or body.function_call not in (None, "none", "auto"):
        return _refuse("tool_choice", "tools (function calling) are not supported.")
    if body.logprobs or body.top_logprobs:
        return _refuse(
            "logprobs" if body.logprobs else "top_logprobs", "log probabilities are not supported."
        )
    if _format_type(body.response_format) not in (None, "text"):
        return _refuse("response_format", "only text answers are supported (no JSON mode or schema).")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(body, name):
            return _refuse(name, "penalties are not supported; leave it unset or 0.")
    if body.logit_bias:
        return _refuse("logit_bias", "logit_bias is not supported.")
    if body.modalities not in (None, ["text"]):
        return _refuse("modalities", "only text output is supported.")
    for name in ("audio", "prediction", "reasoning_effort", "verbosity", "web_search_options"):
        if getattr(body, name) is not None:
            return _refuse(name, "not supported by this server.")
    if body.stream_options is not None and not body.stream:
        return OpenAIError(400, "stream_options is only allowed when stream is true.", param="stream_options")
    stops = [body.stop] if isinstance(body.stop, str) else body.stop or []
    if len(stops) > 4:
        return OpenAIError(400, "stop: at most 4 stop sequences.", param="stop")
    return None


def unsupported_responses(body: ResponsesRequest) -> OpenAIError | None:
    if body.tools:
        return _refuse("tools", "tools are not supported.")
    if body.tool_choice not in (None, "none", "auto"):
        return _refuse("tool_choice", "tools are not supported.")
    if body.include:
        return _refuse("include", f"{body.include[0]!r} is not supported.")
    if _format_type(body.text, "format") not in (None, "text"):
        return _refuse("text.format", "only text answers are supported (no JSON mode or schema).")
    if body.reasoning:
        return _refuse("reasoning", "reasoning options are not supported.")
    if body.background:
        return _refuse("background", "background responses are not supported.")
    for name in ("conversation", "prompt"):
        if getattr(body, name) is not None:
            return _refuse(name, "not supported by this server; send the input itself.")
    if body.top_logprobs:
        return _refuse("top_logprobs", "log probabilities are not supported.")
    return None


def _role(role: str) -> Role:
    # "developer" is OpenAI's newer name for what models see as the system message.
    return "system" if role == "developer" else role  # type: ignore[return-value]


def _text(content: str | list[TextPart], param: str) -> str:
    """A message's text; any part that is not text is a 400 naming it."""
    if isinstance(content, str):
        return content
    pieces = []
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        if part.type not in ("text", "input_text", "output_text"):
            raise _refuse(f"{where}.type", f"only text content is supported, not {part.type!r}.")
        if part.text is None:
            raise OpenAIError(400, f"Missing required parameter: '{where}.text'.", param=f"{where}.text")
        pieces.append(part.text)
    return "".join(pieces)


def chat_messages(body: ChatCompletionRequest, max_chars: int) -> list[ChatMessage]:
    messages = [
        ChatMessage(_role(m.role), _text(m.content, f"messages[{i}].content"))
        for i, m in enumerate(body.messages)
    ]
    check_length(messages, max_chars, "messages")
    return messages


def input_messages(body: ResponsesRequest, max_chars: int) -> list[ChatMessage]:
    """The request's own input as messages (without instructions or earlier turns)."""
    if isinstance(body.input, str):
        messages = [ChatMessage("user", body.input)]
    else:
        messages = [
            ChatMessage(_role(m.role), _text(m.content, f"input[{i}].content"))
            for i, m in enumerate(body.input)
        ]
    if not messages:
        raise OpenAIError(400, "input must not be empty.", param="input")
    check_length(messages, max_chars, "input")
    return messages


def check_length(messages: list[ChatMessage], max_chars: int, param: str) -> None:
    """Each message within LLMRELAY_MAX_MESSAGE_CHARS; the model's context is checked upstream."""
    for index, message in enumerate(messages):
        if len(message.content) > max_chars:
            raise OpenAIError(
                400,
                f"{param}[{index}] is {len(message.content)} characters; the limit is {max_chars}.",
                param=f"{param}[{index}]",
                code="string_above_max_length",
            )
