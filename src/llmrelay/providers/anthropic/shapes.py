"""llmrelay's content model in the Messages API's shape: what a `GenerationRequest` asks, as the
body Anthropic takes (and its token count takes: `prompt_params`).

The Messages API differs from OpenAI's in ways a request must be rewritten for:
- no system role: system messages, wherever they stand, join into the top-level `system`;
- a message's content is a list of blocks: `text`, `image` (a base64 or a url source), an
  assistant's calls as `tool_use` blocks (`input` a JSON object, not a string), and a tool's
  result as a `tool_result` block in a *user* turn;
- an assistant's earlier reasoning goes back as the `thinking` blocks (with their `signature`)
  and `redacted_thinking` blocks it came as, unchanged and in their order, before its text and
  tool_use blocks: Anthropic requires them back with the tool results when thinking is on.
  Reasoning with no signature came from another kind of model and cannot be verified by
  Anthropic (which refuses such a block): it is left out;
- turns alternate: consecutive messages of one role (several tool results, or results then
  the user's next words) are one turn, its `tool_result` blocks first, as the API requires;
- `tool_choice` is an object (`auto`, `any`, `tool` with a name, `none`) that also carries
  `disable_parallel_tool_use`; structured output is `output_config.format` (a JSON schema:
  there is no "any JSON object" mode), beside `output_config.effort`;
- extended thinking is `thinking`, its `budget_tokens` below `max_tokens` (`thinking_param`);
- a prompt-caching breakpoint (`cache_control`) goes on the block it came on: a text block of
  the message's `text_parts` (or of the system, which is then sent as blocks, one per part),
  an image, a tool_use, a tool_result, a tool definition.
What cannot be said in this shape is a `BadGenerationRequest` naming it, never dropped.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from llmrelay.providers.base import (
    BadGenerationRequest,
    CacheControl,
    ChatMessage,
    GenerationRequest,
    InvalidParameter,
    ReasoningBlock,
    TextPart,
    Thinking,
    Tool,
)

# data:<media type>;base64,<data> — the only data URL an image block can carry.
_DATA_URL = re.compile(r"data:(?P<media>[^;,]+);base64,(?P<data>.+)", re.DOTALL)

# Anthropic's least thinking budget (the SDK's ThinkingConfigEnabledParam: "Must be ≥1024").
MIN_THINKING_BUDGET = 1024

log = logging.getLogger(__name__)

# llmrelay's tool_choice words as Anthropic's choice types (a name is `tool`).
_CHOICE_TYPES = {"auto": "auto", "required": "any", "none": "none"}


def _cached(block: dict[str, Any], cache: CacheControl | None) -> dict[str, Any]:
    """The block with its cache breakpoint, exactly as the client gave it (if it gave one)."""
    if cache is not None:
        block["cache_control"] = cache
    return block


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


def tool_use_block(
    call_id: str, name: str, arguments: str, cache: CacheControl | None = None
) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise BadGenerationRequest(
            f"The arguments of tool call {call_id!r} are not a JSON object; Anthropic's tool_use "
            "input must be one."
        )
    return _cached({"type": "tool_use", "id": call_id, "name": name, "input": parsed}, cache)


def tool_result_block(message: ChatMessage) -> dict[str, Any]:
    if not message.tool_call_id:
        raise BadGenerationRequest("A tool message needs the id of the call it answers (tool_call_id).")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if message.images:
        text = [{"type": "text", "text": message.content}] if message.content else []
        block["content"] = [*text, *(image_block(url) for url in message.images)]
    elif message.content:
        block["content"] = message.content
    return _cached(block, message.cache)


def thinking_blocks(reasoning: Sequence[ReasoningBlock]) -> list[dict[str, Any]]:
    """An assistant's reasoning as the blocks Anthropic gave it, byte for byte (unsigned
    reasoning, which Anthropic would refuse, left out)."""
    blocks: list[dict[str, Any]] = []
    for block in reasoning:
        if block.redacted is not None:
            blocks.append({"type": "redacted_thinking", "data": block.redacted})
        elif block.signature:
            blocks.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
    return blocks


def content_blocks(message: ChatMessage) -> list[dict[str, Any]]:
    """One message's content. An assistant's thinking comes first, as Anthropic wrote it;
    images go before the text, where Anthropic's guide says Claude reads them best; an empty
    text block (which the API refuses) is left out beside others."""
    if message.role == "tool":
        return [tool_result_block(message)]
    blocks = thinking_blocks(message.reasoning) if message.role == "assistant" else []
    caches = message.image_caches or (None,) * len(message.images)
    blocks += [_cached(image_block(url), cache) for url, cache in zip(message.images, caches, strict=True)]
    if message.text_parts:
        blocks += text_blocks(message.text_parts)
    elif message.content or not (blocks or message.tool_calls):
        blocks.append({"type": "text", "text": message.content})
    blocks += [tool_use_block(c.id, c.name, c.arguments, c.cache) for c in message.tool_calls]
    return blocks


def text_blocks(parts: Sequence[TextPart]) -> list[dict[str, Any]]:
    """Text blocks as the client gave them, each with its breakpoint (an empty one, which the
    API refuses, left out)."""
    return [_cached({"type": "text", "text": part.text}, part.cache) for part in parts if part.text]


def system_param(messages: Sequence[ChatMessage]) -> str | list[dict[str, Any]] | None:
    """The Messages API's `system`: one text, or, where a part of it is a cache breakpoint,
    its blocks (one per system message or text part) so that each breakpoint stays where it was."""
    system = [m for m in messages if m.role == "system"]
    if not system:
        return None
    if not any(m.text_parts for m in system):
        return "\n\n".join(m.content for m in system)
    blocks: list[dict[str, Any]] = []
    for message in system:
        blocks += text_blocks(message.text_parts or (TextPart(message.content),))
    return blocks


def system_and_turns(
    messages: Sequence[ChatMessage],
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """The Messages API's `system` and `messages` for llmrelay's message list."""
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
    return system_param(messages), turns


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
        out.append(_cached(spec, tool.cache))
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
    """Structured output as Anthropic's `output_config.format` (a JSON schema only), and the
    effort asked for."""
    config: dict[str, Any] = {}
    fmt = request.response_format
    if fmt is not None:
        if fmt.type != "json_schema" or fmt.schema is None:
            raise InvalidParameter(
                "response_format",
                "response_format: Anthropic's API has no JSON-object mode; send a json_schema format "
                "with its schema.",
            )
        config["format"] = {"type": "json_schema", "schema": fmt.schema}
    if request.effort is not None:
        config["effort"] = request.effort
    return config or None


_warned_no_room: set[int] = set()


def _warn_no_room_once(max_tokens: int) -> None:
    if max_tokens not in _warned_no_room:
        _warned_no_room.add(max_tokens)
        log.warning(
            "thinking asked for, but max_output_tokens (%d) leaves no room for Anthropic's least "
            "thinking budget (%d, below max_tokens): asked without thinking; raise "
            "max_output_tokens above %d to pass thinking on",
            max_tokens,
            MIN_THINKING_BUDGET,
            MIN_THINKING_BUDGET,
        )


def thinking_param(thinking: Thinking, asked_max: int | None, max_tokens: int) -> dict[str, Any] | None:
    """Anthropic's `thinking`, or None: ask without it. The budget must be below the request's
    `max_tokens`, as Anthropic requires (a 400 naming it, before anything is sent). Where this
    backend's ceiling lowered the `max_tokens` sent (`max_output_tokens`), the budget is lowered
    below it too: a budget is an upper bound, and less thinking is within it. A ceiling that
    leaves less than Anthropic's least budget leaves none: the answer is asked without thinking
    (as on a model that has none), not refused — a refusal would fail every request of a client
    that always asks for thinking (Claude Code) on a server with the default ceiling; the log
    says so once."""
    param: dict[str, Any] = {"type": thinking.type}
    if thinking.type == "enabled":
        budget = thinking.budget_tokens
        if budget is None:
            raise InvalidParameter("thinking.budget_tokens", "thinking.budget_tokens: Field required")
        if asked_max is not None and budget >= asked_max:
            raise InvalidParameter(
                "thinking.budget_tokens",
                f"thinking.budget_tokens: must be less than max_tokens ({budget} >= {asked_max}).",
            )
        if budget < MIN_THINKING_BUDGET:
            raise InvalidParameter(
                "thinking.budget_tokens",
                f"thinking.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}",
            )
        budget = min(budget, max_tokens - 1)
        if budget < MIN_THINKING_BUDGET:
            _warn_no_room_once(max_tokens)
            return None
        param["budget_tokens"] = budget
    if thinking.display is not None:
        param["display"] = thinking.display
    return param


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
