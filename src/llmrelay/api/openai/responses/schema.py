"""The request body of /v1/responses, what of it llmrelay refuses, and its input messages."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmrelay.api.openai.errors import OpenAIError
from llmrelay.api.openai.params import (
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
from llmrelay.api.openai.responses.logprobs import LOGPROBS, check_include
from llmrelay.providers.base import ChatMessage, ResponseFormat, Tool, ToolCall


class InputMessage(Strict):
    type: Literal["message"] | None = None
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    # Present on output messages read back from a response; accepted so they can be sent again.
    id: str | None = None
    status: str | None = None


class FunctionCallItem(Strict):
    """A call the model made, sent back as input (with its result after it)."""

    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(Strict):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str
    id: str | None = None
    status: str | None = None


class ReasoningItem(BaseModel):
    """A reasoning item read back from a response: the model's own notes, which an upstream may
    want back (kept as they came); llmrelay's models answer without them."""

    type: Literal["reasoning"]
    model_config = ConfigDict(extra="allow")


InputItem = InputMessage | FunctionCallItem | FunctionCallOutputItem | ReasoningItem


class FunctionTool(Strict):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamedFunctionChoice(Strict):
    type: Literal["function"]
    name: str


class TextFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class TextOptions(Strict):
    format: TextFormat | None = None
    verbosity: str | None = None


class ResponsesRequest(Strict):
    model: str = Field(min_length=1)
    input: str | list[InputItem]
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
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedFunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextOptions | None = None
    # "message.output_text.logprobs" asks for the answer's log probabilities, `top_logprobs`
    # alternatives each; other values as `logprobs.check_include` says. Without that value,
    # top_logprobs alone asks for nothing (as OpenAI's).
    include: list[str] | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    # Refused by `unsupported()` unless neutral.
    reasoning: dict[str, Any] | None = None
    background: bool | None = None
    conversation: Any = None
    prompt: Any = None
    max_tool_calls: int | None = None


def function_tools(body: ResponsesRequest) -> list[Tool]:
    """The request's tools: function tools only (built-in ones are OpenAI's own services)."""
    tools: list[Tool] = []
    for index, raw in enumerate(body.tools or ()):
        if raw.get("type") != "function":
            raise refuse(
                "tools", f"tools[{index}]: only function tools are supported, not {raw.get('type')!r}."
            )
        try:
            tool = FunctionTool.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise OpenAIError(
                400,
                f"Invalid value for 'tools[{index}].{where}': {first['msg']}.",
                param=f"tools[{index}].{where}",
            ) from None
        tools.append(Tool(tool.name, tool.description, tool.parameters, tool.strict))
    return tools


def unsupported_responses(body: ResponsesRequest) -> OpenAIError | None:
    if body.tool_choice not in (None, "none", "auto") and not body.tools:
        return OpenAIError(400, "tool_choice needs tools.", param="tool_choice")
    if isinstance(body.tool_choice, NamedFunctionChoice):
        if body.tool_choice.name not in {t.get("name") for t in body.tools or ()}:
            return OpenAIError(
                400,
                f"tool_choice names {body.tool_choice.name!r}, which is not in tools.",
                param="tool_choice",
            )
    problem = check_include(body.include or ())
    if problem is not None:
        return problem
    fmt = body.text.format if body.text else None
    if fmt is not None and fmt.type == "json_schema" and (fmt.schema_ is None or not fmt.name):
        return OpenAIError(
            400, "text.format of type json_schema needs a name and a schema.", param="text.format"
        )
    if body.reasoning:
        return refuse("reasoning", "reasoning options are not supported.")
    if body.background and body.store is False:
        return OpenAIError(400, "background responses need store=true.", param="background")
    for name in ("conversation", "prompt"):
        if getattr(body, name) is not None:
            return refuse(name, "not supported by this server; send the input itself.")
    return None


def asks_logprobs(body: ResponsesRequest) -> bool:
    return LOGPROBS in (body.include or ())


def logprobs_asked(body: ResponsesRequest) -> int | None:
    """`GenerationRequest.logprobs`: how many alternatives, or None when not asked for."""
    return (body.top_logprobs or 0) if asks_logprobs(body) else None


def input_messages(body: ResponsesRequest, max_chars: int, *, sees_images: bool) -> list[ChatMessage]:
    """The request's own input as messages (without instructions or earlier turns): a call the
    model made becomes an assistant message with that call, its result a tool message."""
    if isinstance(body.input, str):
        messages = [ChatMessage("user", body.input)]
    else:
        messages = []
        for i, item in enumerate(body.input):
            if isinstance(item, InputMessage):
                text, images = content_of(item.content, f"input[{i}].content", images_allowed=sees_images)
                messages.append(ChatMessage(role(item.role), text, images=images))
            elif isinstance(item, FunctionCallItem):
                call = ToolCall(item.call_id, item.name, item.arguments)
                previous = messages[-1] if messages else None
                if previous is not None and previous.role == "assistant" and not previous.tool_call_id:
                    # Parallel calls of one turn stay one assistant message.
                    messages[-1] = replace(previous, tool_calls=(*previous.tool_calls, call))
                else:
                    messages.append(ChatMessage("assistant", "", tool_calls=(call,)))
            elif isinstance(item, FunctionCallOutputItem):
                messages.append(ChatMessage("tool", item.output, tool_call_id=item.call_id))
    if not messages:
        raise OpenAIError(400, "input must not be empty.", param="input")
    check_length(messages, max_chars, "input")
    return messages


def check_tool_results(messages: list[ChatMessage]) -> None:
    """Each function_call_output answers a call made earlier (in this input or the chain)."""
    called: set[str] = set()
    for message in messages:
        called.update(call.id for call in message.tool_calls)
        if message.role == "tool" and message.tool_call_id not in called:
            raise OpenAIError(
                400,
                f"No tool call found for function call output with call_id {message.tool_call_id!r}.",
                param="input",
            )


def response_format(body: ResponsesRequest) -> ResponseFormat | None:
    fmt = body.text.format if body.text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return ResponseFormat("json_object")
    return ResponseFormat("json_schema", fmt.schema_, fmt.name, fmt.strict)


def tool_choice(body: ResponsesRequest) -> str | None:
    choice = body.tool_choice
    return choice.name if isinstance(choice, NamedFunctionChoice) else choice
