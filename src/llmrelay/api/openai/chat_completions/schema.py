"""The request body of /v1/chat/completions, what of it llmrelay refuses, and its messages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from llmrelay.api.openai.errors import OpenAIError
from llmrelay.api.openai.params import (
    MAX_CHOICES,
    StreamOptions,
    Strict,
    Temperature,
    TextPart,
    TopP,
    check_length,
    content_of,
    refuse,
    role,
)
from llmrelay.providers.base import ChatMessage, GenerationRequest, ResponseFormat, Tool, ToolCall


class FunctionCallIn(Strict):
    name: str
    arguments: str


class ToolCallIn(Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ChatMessageIn(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    # None only for an assistant message that made tool calls.
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    # Read back from a response; accepted so it can be sent again.
    refusal: str | None = None


class FunctionIn(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolIn(Strict):
    type: Literal["function"]
    function: FunctionIn


class NamedFunction(Strict):
    name: str


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormatIn(Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


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
    # Answers to the prompt, each its own generation (pipeline.start_choices).
    n: int | None = Field(None, ge=1)
    tools: list[ToolIn] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormatIn | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    # Accepted and ignored: they change nothing about the answer.
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    # Passed to the provider; refused where it cannot give them (`params.beyond_provider`).
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    # Known to OpenAI, refused by `unsupported()` unless neutral.
    functions: list[Any] | None = None
    function_call: Any = None
    logit_bias: dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: Any = None
    prediction: Any = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    web_search_options: Any = None


def unsupported_chat(body: ChatCompletionRequest) -> OpenAIError | None:
    """The first parameter this server cannot honour, as a 400; None when all is well."""
    if body.n is not None and body.n > MAX_CHOICES:
        return OpenAIError(
            400,
            f"n: at most {MAX_CHOICES} choices per request (each is its own generation); got {body.n}.",
            param="n",
            code="integer_above_max_value",
        )
    if body.functions or body.function_call not in (None, "none", "auto"):
        name = "functions" if body.functions else "function_call"
        return refuse(name, "the deprecated functions API is not supported; send tools and tool_choice.")
    if body.tool_choice not in (None, "none", "auto") and not body.tools:
        return OpenAIError(400, "tool_choice needs tools.", param="tool_choice")
    if isinstance(body.tool_choice, NamedToolChoice):
        names = {tool.function.name for tool in body.tools or ()}
        if body.tool_choice.function.name not in names:
            return OpenAIError(
                400,
                f"tool_choice names {body.tool_choice.function.name!r}, which is not in tools.",
                param="tool_choice",
            )
    if body.response_format is not None and body.response_format.type == "json_schema":
        if body.response_format.json_schema is None:
            return OpenAIError(
                400,
                "Missing required parameter: 'response_format.json_schema'.",
                param="response_format.json_schema",
                code="missing_required_parameter",
            )
    if body.top_logprobs is not None and not body.logprobs:
        return OpenAIError(
            400, "top_logprobs: set logprobs to true to use top_logprobs.", param="top_logprobs"
        )
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


def chat_messages(body: ChatCompletionRequest, max_chars: int, *, sees_images: bool) -> list[ChatMessage]:
    messages = [_message(m, f"messages[{i}]", sees_images) for i, m in enumerate(body.messages)]
    check_length(messages, max_chars, "messages")
    _check_tool_results(messages)
    return messages


def _check_tool_results(messages: list[ChatMessage]) -> None:
    """A tool result answers a call an earlier assistant message made, as OpenAI requires."""
    called: set[str] = set()
    for index, message in enumerate(messages):
        called.update(call.id for call in message.tool_calls)
        if message.role == "tool" and message.tool_call_id not in called:
            raise OpenAIError(
                400,
                f"messages[{index}]: a message with role 'tool' must answer a tool call of an earlier "
                f"assistant message (no call has id {message.tool_call_id!r}).",
                param=f"messages[{index}].role",
            )


def _message(message: ChatMessageIn, where: str, sees_images: bool) -> ChatMessage:
    if message.content is None and not (message.role == "assistant" and message.tool_calls):
        raise OpenAIError(400, f"Missing required parameter: '{where}.content'.", param=f"{where}.content")
    content = message.content or ""
    text, images = content_of(content, f"{where}.content", images_allowed=sees_images)
    calls = tuple(
        ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in message.tool_calls or ()
    )
    return ChatMessage(
        role(message.role), text, images=images, tool_calls=calls, tool_call_id=message.tool_call_id
    )


def generation_request(body: ChatCompletionRequest, messages: list[ChatMessage]) -> GenerationRequest:
    """The request as every provider understands it: tools, structured output and all."""
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    tool_choice: str | None
    if isinstance(body.tool_choice, NamedToolChoice):
        tool_choice = body.tool_choice.function.name
    else:
        tool_choice = body.tool_choice
    fmt = body.response_format
    response_format = None
    if fmt is not None and fmt.type == "json_object":
        response_format = ResponseFormat("json_object")
    elif fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
        spec = fmt.json_schema
        response_format = ResponseFormat("json_schema", spec.schema_, spec.name, spec.strict)
    return GenerationRequest(
        messages=messages,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=tuple(stops),
        tools=tuple(
            Tool(t.function.name, t.function.description, t.function.parameters, t.function.strict)
            for t in body.tools or ()
        ),
        tool_choice=tool_choice,
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=response_format,
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        logprobs=(body.top_logprobs or 0) if body.logprobs else None,
    )
