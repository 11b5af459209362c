"""The request body of /v1/responses, what of it llmrelay refuses, and its input messages."""

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


class InputMessage(Strict):
    type: Literal["message"] | None = None
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    # Present on output messages read back from a response; accepted so they can be sent again.
    id: str | None = None
    status: str | None = None


class ResponsesRequest(Strict):
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


def unsupported_responses(body: ResponsesRequest) -> OpenAIError | None:
    if body.tools:
        return refuse("tools", "tools are not supported.")
    if body.tool_choice not in (None, "none", "auto"):
        return refuse("tool_choice", "tools are not supported.")
    if body.include:
        return refuse("include", f"{body.include[0]!r} is not supported.")
    if format_type(body.text, "format") not in (None, "text"):
        return refuse("text.format", "only text answers are supported (no JSON mode or schema).")
    if body.reasoning:
        return refuse("reasoning", "reasoning options are not supported.")
    if body.background:
        return refuse("background", "background responses are not supported.")
    for name in ("conversation", "prompt"):
        if getattr(body, name) is not None:
            return refuse(name, "not supported by this server; send the input itself.")
    if body.top_logprobs:
        return refuse("top_logprobs", "log probabilities are not supported.")
    return None


def input_messages(body: ResponsesRequest, max_chars: int) -> list[ChatMessage]:
    """The request's own input as messages (without instructions or earlier turns)."""
    if isinstance(body.input, str):
        messages = [ChatMessage("user", body.input)]
    else:
        messages = [
            ChatMessage(role(m.role), text_of(m.content, f"input[{i}].content"))
            for i, m in enumerate(body.input)
        ]
    if not messages:
        raise OpenAIError(400, "input must not be empty.", param="input")
    check_length(messages, max_chars, "input")
    return messages
