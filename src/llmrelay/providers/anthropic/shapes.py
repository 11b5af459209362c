"""llmrelay's content model in the Messages API's shape: what a `GenerationRequest` asks, as the
body Anthropic takes (and its token count takes: `prompt_params`).

The Messages API differs from OpenAI's in ways a request must be rewritten for:
- no system role: system messages, wherever they stand, join into the top-level `system`;
- a message's content is a list of blocks: `text`, `image` (a base64 or a url source), an
  assistant's calls as `tool_use` blocks (`input` a JSON object, not a string), and a tool's
  result as a `tool_result` block in a *user* turn;
- turns alternate: consecutive messages of one role (several tool results, or results then
  the user's next words) are one turn, its `tool_result` blocks first, as the API requires;
- `tool_choice` is an object (`auto`, `any`, `tool` with a name, `none`) that also carries
  `disable_parallel_tool_use`; structured output is `output_config.format` (a JSON schema:
  there is no "any JSON object" mode).
What cannot be said in this shape is a `BadGenerationRequest` naming it, never dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from llmrelay.providers.base import (
    BadGenerationRequest,
    ChatMessage,
    GenerationRequest,
    InvalidParameter,
    Tool,
)

# data:<media type>;base64,<data> — the only data URL an image block can carry.
_DATA_URL = re.compile(r"data:(?P<media>[^;,]+);base64,(?P<data>.+)", re.DOTALL)

# llmrelay's tool_choice words as Anthropic's choice types (a name is `tool`).
_CHOICE_TYPES = {"auto": "auto", "required": "any", "none": "none"}


def image_block(url: str) -> dict[str, Any]:
    """An image as Anthropic takes it: a data URL's bytes as a base64 source, a web URL as a
    url source (Anthropic fetches it)."""
    if url.startswith("data:"):
        found = _DATA_URL.fullmatch(url)
        if found is None:
            raise BadGenerationRequest(
                "An image given as a data URL must be base64 (data:image/png;base64,…) for Anthropic."
            )
        source = {"type": "base64", "media_type": found["media"], "data": found["data"]}
        return {"type": "image", "source": source}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise BadGenerationRequest("An image must be a data URL or an http(s) URL for Anthropic.")


def tool_use_block(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise BadGenerationRequest(
            f"The arguments of tool call {call_id!r} are not a JSON object; Anthropic's tool_use "
            "input must be one."
        )
    return {"type": "tool_use", "id": call_id, "name": name, "input": parsed}


def tool_result_block(message: ChatMessage) -> dict[str, Any]:
    if not message.tool_call_id:
        raise BadGenerationRequest("A tool message needs the id of the call it answers (tool_call_id).")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if message.images:
        text = [{"type": "text", "text": message.content}] if message.content else []
        block["content"] = [*text, *(image_block(url) for url in message.images)]
    elif message.content:
        block["content"] = message.content
    return block


def content_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    """One message's content. Images go before the text, where Anthropic's guide says Claude
    reads them best; an empty text block (which the API refuses) is left out beside others."""
    if message.role == "tool":
        return [tool_result_block(message)]
    blocks = [image_block(url) for url in message.images]
    if message.content or not (blocks or message.tool_calls):
        blocks.append({"type": "text", "text": message.content})
    blocks += [tool_use_block(c.id, c.name, c.arguments) for c in message.tool_calls]
    return blocks


def system_and_turns(messages: Sequence[ChatMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """The Messages API's `system` and `messages` for llmrelay's message list."""
    system = [m.content for m in messages if m.role == "system"]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "user" if message.role == "tool" else message.role
        blocks = content_blocks(message)
        if turns and turns[-1]["role"] == role:
            merged: list[dict[str, Any]] = turns[-1]["content"] + blocks
            # A user turn's tool results come before anything else in it (stable: in order).
            merged.sort(key=lambda block: block["type"] != "tool_result")
            turns[-1]["content"] = merged
        else:
            turns.append({"role": role, "content": blocks})
    return ("\n\n".join(system) if system else None), turns


def tool_params(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        spec: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            spec["description"] = tool.description
        spec["input_schema"] = (
            tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
        )
        if tool.strict is not None:
            spec["strict"] = tool.strict
        out.append(spec)
    return out


def tool_choice_param(request: GenerationRequest) -> dict[str, Any] | None:
    """Anthropic's `tool_choice` (None: send none, the API's default `auto` holds)."""
    choice = request.tool_choice
    if not request.tools:
        if choice not in (None, "auto", "none"):
            raise InvalidParameter(
                "tool_choice", "tool_choice: a tool must be called, but no tools were given."
            )
        return None  # "auto" or "none" of no tools asks for nothing
    single = request.parallel_tool_calls is False
    if choice is None:
        # The API's default is auto: only "one call at most" needs saying.
        return {"type": "auto", "disable_parallel_tool_use": True} if single else None
    param: dict[str, Any] = (
        {"type": _CHOICE_TYPES[choice]} if choice in _CHOICE_TYPES else {"type": "tool", "name": choice}
    )
    # `none` has no such flag: no call at all is fewer than one.
    if single and param["type"] != "none":
        param["disable_parallel_tool_use"] = True
    return param


def output_config(request: GenerationRequest) -> dict[str, Any] | None:
    """Structured output as Anthropic's `output_config.format`: a JSON schema only."""
    fmt = request.response_format
    if fmt is None:
        return None
    if fmt.type != "json_schema" or fmt.schema is None:
        raise InvalidParameter(
            "response_format",
            "response_format: Anthropic's API has no JSON-object mode; send a json_schema format "
            "with its schema.",
        )
    return {"format": {"type": "json_schema", "schema": fmt.schema}}


def prompt_params(request: GenerationRequest) -> dict[str, Any]:
    """What a message request and a token count share: `system`, `messages`, the tools, the
    choice among them and the output format (only what was asked for)."""
    system, turns = system_and_turns(request.messages)
    params: dict[str, Any] = {"messages": turns}
    if system is not None:
        params["system"] = system
    if request.tools:
        params["tools"] = tool_params(request.tools)
    choice = tool_choice_param(request)
    if choice is not None:
        params["tool_choice"] = choice
    config = output_config(request)
    if config is not None:
        params["output_config"] = config
    return params
