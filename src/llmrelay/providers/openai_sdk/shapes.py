"""llmrelay's content model in the two OpenAI wire shapes an upstream may speak.

Chat Completions carries tool calls on assistant messages and results as `tool` messages;
the Responses API carries them as their own input items (`function_call`,
`function_call_output`). Tools, tool choice and structured output are named differently too.
Each function here turns a `GenerationRequest`'s part into one API's shape, so a client that
speaks one API works on an upstream that speaks the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmrelay.providers.base import ChatMessage, GenerationRequest, ResponseFormat, TokenLogprob, Tool

# The Responses API's `include` value that asks for the answer's log probabilities.
RESPONSES_LOGPROBS = "message.output_text.logprobs"


def chat_message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in message.images]
        out["content"] = parts
    else:
        out["content"] = message.content
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def chat_tools(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": _function(tool)} for tool in tools]


def chat_tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def chat_response_format(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name or "answer"}
    if fmt.schema is not None:
        spec["schema"] = fmt.schema
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def chat_extras(request: GenerationRequest) -> dict[str, Any]:
    """Everything beyond plain text, as Chat Completions names it (only what was asked for)."""
    params: dict[str, Any] = {}
    if request.tools:
        params["tools"] = chat_tools(request.tools)
    if request.tool_choice is not None:
        params["tool_choice"] = chat_tool_choice(request.tool_choice)
    if request.parallel_tool_calls is not None:
        params["parallel_tool_calls"] = request.parallel_tool_calls
    if request.response_format is not None:
        params["response_format"] = chat_response_format(request.response_format)
    for name in ("seed", "presence_penalty", "frequency_penalty"):
        value = getattr(request, name)
        if value is not None:
            params[name] = value
    if request.logprobs is not None:
        if request.prompt is not None:
            params["logprobs"] = request.logprobs  # the legacy endpoint: how many alternatives
        else:
            params["logprobs"] = True
            if request.logprobs:
                params["top_logprobs"] = request.logprobs
    return params


def responses_input(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            items.append(
                {"type": "function_call_output", "call_id": message.tool_call_id, "output": message.content}
            )
            continue
        if message.images:
            parts: list[dict[str, Any]] = (
                [{"type": "input_text", "text": message.content}] if message.content else []
            )
            parts += [{"type": "input_image", "image_url": url} for url in message.images]
            items.append({"role": message.role, "content": parts})
        elif message.content or not message.tool_calls:
            items.append({"role": message.role, "content": message.content})
        for call in message.tool_calls:
            items.append(
                {"type": "function_call", "call_id": call.id, "name": call.name, "arguments": call.arguments}
            )
    return items


def responses_extras(request: GenerationRequest) -> dict[str, Any]:
    """Everything beyond plain text, as the Responses API names it."""
    params: dict[str, Any] = {}
    if request.tools:
        params["tools"] = [{"type": "function", **_function(tool)} for tool in request.tools]
    choice = request.tool_choice
    if choice is not None:
        params["tool_choice"] = (
            choice if choice in ("auto", "none", "required") else {"type": "function", "name": choice}
        )
    if request.parallel_tool_calls is not None:
        params["parallel_tool_calls"] = request.parallel_tool_calls
    fmt = request.response_format
    if fmt is not None:
        if fmt.type == "json_object":
            params["text"] = {"format": {"type": "json_object"}}
        else:
            spec: dict[str, Any] = {"type": "json_schema", "name": fmt.name or "answer"}
            if fmt.schema is not None:
                spec["schema"] = fmt.schema
            if fmt.strict is not None:
                spec["strict"] = fmt.strict
            params["text"] = {"format": spec}
    if request.logprobs is not None:
        params["include"] = [RESPONSES_LOGPROBS]
        if request.logprobs:
            params["top_logprobs"] = request.logprobs
    return params


def cached_tokens(details: dict[str, Any] | None) -> int | None:
    """The prompt tokens an OpenAI upstream read from its cache, from a usage's
    `prompt_tokens_details` (Chat) or `input_tokens_details` (Responses); None when it read
    none or did not say."""
    cached = (details or {}).get("cached_tokens")
    return cached if isinstance(cached, int) and cached > 0 else None


def token_logprob(item: dict[str, Any], *, alternatives: bool = True) -> TokenLogprob:
    """A token with its log probability, in either API's shape (`bytes` where given: the
    Responses API's events leave them out), and its `top_logprobs` as given."""
    raw = item.get("bytes")
    top = (
        tuple(token_logprob(t, alternatives=False) for t in item.get("top_logprobs") or ())
        if alternatives
        else ()
    )
    return TokenLogprob(str(item["token"]), float(item["logprob"]), None if raw is None else tuple(raw), top)


def _function(tool: Tool) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        spec["description"] = tool.description
    spec["parameters"] = (
        tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
    )
    if tool.strict is not None:
        spec["strict"] = tool.strict
    return spec
