"""A Messages API request as llmrelay's `GenerationRequest`, and what of it cannot be honoured.

`system` (a string or text blocks) becomes the leading system message. Each message's blocks
map onto the content model: text joins into its text; `image` blocks become its images (a
data URL or a URL) where the model sees; an assistant's `tool_use` blocks become its tool calls;
a user's `tool_result` blocks become one `tool` message each (the result of the call they
name), before the user's own text. An assistant's `thinking` (with its `signature`) and
`redacted_thinking` blocks become its reasoning blocks, kept in order: an Anthropic upstream
gets them back exactly (it requires them with tool results when thinking is on); a provider
whose API has no place for them leaves them out of the prompt, since they are the model's own
earlier reasoning, not anything the user said. `tools` and `tool_choice` map onto llmrelay's
(`any` is "required", `tool` names one). Blocks llmrelay has no use for (documents…) are
refused by type, each with a sentence saying why; so are Anthropic's server tools.

A `cache_control` (a prompt-caching breakpoint) stays on the part it was put on: a system or
text block (its message keeps its text blocks, `text_parts`), an image, a tool_use (its
`ToolCall`), a tool_result (its `tool` message) or a tool definition. An Anthropic upstream gets
each one back on that block; every other provider ignores them (the answer is the same).

`thinking` and `output_config.effort` go to every provider; only one whose API has them acts
on them (Anthropic). Elsewhere the answer has no thinking block, which `thinking` allows (its
budget is an upper bound; no thinking is within it), and `effort` is a hint Anthropic calls a
behavioural signal rather than a budget, so a model with one way of answering honours any
level by answering that way. `output_config.format` is structured output, as
`response_format` json_schema on /v1/chat/completions: the embedded model constrains its
answer to the schema by grammar.

What the chosen provider cannot honour (`ProviderInfo.cannot`, `sees_images`) is a 400 naming
it: `top_k` on the OpenAI backends, tools or a format on a model that has none, never a
silent drop.
"""

from __future__ import annotations

import json
from typing import Any

from llmrelay.api.anthropic.errors import AnthropicError
from llmrelay.api.anthropic.schema import (
    ContentBlock,
    CountTokensRequest,
    MessageIn,
    MessagesRequest,
    SystemBlock,
)
from llmrelay.providers.base import (
    ChatMessage,
    GenerationRequest,
    Provider,
    ReasoningBlock,
    ResponseFormat,
    TextPart,
    Thinking,
    Tool,
    ToolCall,
)

# Why each block kind llmrelay cannot take is refused.
_BLOCK_REFUSALS = {
    "document": "document blocks are not supported: send the document's text as a text block.",
}
# The blocks of an assistant's earlier reasoning, and the fields each must carry.
_REASONING_FIELDS = {"thinking": ("thinking", "signature"), "redacted_thinking": ("data",)}
# Request fields that ask for something llmrelay cannot do, and why.
_FIELD_REFUSALS = {
    "mcp_servers": "MCP servers are not supported by this server.",
    "container": "containers are not supported by this server.",
    "context_management": "context management is not supported by this server.",
}
# The fields of a request, by the `GenerationRequest` field providers list in `cannot`.
_PROVIDER_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "stop_sequences": "stop",
    "tools": "tools",
    "output_config.format": "response_format",
}
# tool_choice.type -> llmrelay's tool_choice ("tool" names one: its `name`).
_TOOL_CHOICE = {"auto": "auto", "any": "required", "none": "none"}


def _asked(body: CountTokensRequest | MessagesRequest, name: str) -> bool:
    """Whether the request sets the field (a dotted name is a field of a field)."""
    value: Any = body
    for part in name.split("."):
        value = getattr(value, part, None)
    return value is not None and value != [] and value != {}


def _thinking_problem(body: CountTokensRequest | MessagesRequest) -> AnthropicError | None:
    """What Anthropic itself refuses in `thinking`, said the same on every model."""
    thinking = body.thinking
    if thinking is None:
        return None
    if thinking.type == "enabled" and thinking.budget_tokens is None:
        return AnthropicError(400, "thinking.budget_tokens: Field required")
    if thinking.type != "enabled" and thinking.budget_tokens is not None:
        return AnthropicError(
            400,
            f"thinking.budget_tokens: Extra inputs are not permitted (thinking of type {thinking.type!r})",
        )
    if thinking.display is not None and thinking.type not in ("enabled", "adaptive"):
        return AnthropicError(
            400, f"thinking.display: Extra inputs are not permitted (thinking of type {thinking.type!r})"
        )
    budget = thinking.budget_tokens
    if isinstance(body, MessagesRequest) and budget is not None and budget >= body.max_tokens:
        return AnthropicError(
            400,
            f"thinking.budget_tokens: must be less than max_tokens ({budget} >= {body.max_tokens}); "
            "thinking tokens count toward max_tokens.",
        )
    return None


def unsupported(
    body: CountTokensRequest | MessagesRequest, provider: Provider, model: str
) -> AnthropicError | None:
    """The first field this server (or this model's provider) cannot honour, as a 400."""
    for name, why in _FIELD_REFUSALS.items():
        if _asked(body, name):
            return AnthropicError(400, f"{name}: {why}")
    problem = _thinking_problem(body)
    if problem is not None:
        return problem
    for index, tool in enumerate(body.tools or ()):
        if tool.type not in (None, "custom"):
            return AnthropicError(
                400, f"tools.{index}: server tools ({tool.type!r}) are not supported; only client tools are."
            )
        if tool.input_schema is None:
            return AnthropicError(400, f"tools.{index}.input_schema: Field required")
    choice = body.tool_choice
    if choice is not None and choice.type == "tool":
        names = [tool.name for tool in body.tools or ()]
        if choice.name not in names:
            return AnthropicError(
                400, f"tool_choice.name: {choice.name!r} is none of the tools ({', '.join(names)})."
            )
    if isinstance(body, CountTokensRequest):
        return None
    cannot = provider.info.cannot
    for name, field in _PROVIDER_FIELDS.items():
        if _asked(body, name) and field in cannot:
            return AnthropicError(
                400,
                f"{name}: the model '{model}' (provider {provider.info.name}) cannot honour "
                f"{name}; send the request without it.",
            )
    return None


def _image_url(block: ContentBlock, at: str) -> str:
    source = block.model_extra.get("source") if block.model_extra else None
    if isinstance(source, dict) and source.get("type") == "base64":
        media, data = source.get("media_type"), source.get("data")
        if isinstance(media, str) and isinstance(data, str) and data:
            return f"data:{media};base64,{data}"
    if isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    raise AnthropicError(400, f"{at}.source: an image needs a base64 source (media_type, data) or a url.")


def _result_text(block: ContentBlock, at: str) -> str:
    """A tool result's content: a string, or text blocks."""
    content = (block.model_extra or {}).get("content")
    if content is None or isinstance(content, str):
        text = content or ""
    elif isinstance(content, list):
        pieces = []
        for index, part in enumerate(content):
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise AnthropicError(400, f"{at}.content.{index}: only text is supported in a tool result.")
            pieces.append(part["text"])
        text = "".join(pieces)
    else:
        raise AnthropicError(400, f"{at}.content: a string or a list of text blocks.")
    # An error the tool reported is still its result; the model should know it failed.
    return f"Error: {text}" if (block.model_extra or {}).get("is_error") else text


def _reasoning_block(block: ContentBlock, at: str, role: str) -> ReasoningBlock:
    """An assistant's `thinking` or `redacted_thinking` block, every field as it was given (a
    signature is checked by Anthropic, byte for byte)."""
    if role != "assistant":
        raise AnthropicError(400, f"{at}: {block.type} blocks belong in an assistant message.")
    extra = block.model_extra or {}
    for name in _REASONING_FIELDS[block.type]:
        if not isinstance(extra.get(name), str):
            raise AnthropicError(400, f"{at}.{name}: Field required")
    if block.type == "redacted_thinking":
        return ReasoningBlock(redacted=extra["data"])
    return ReasoningBlock(extra["thinking"], extra["signature"])


def turn_messages(message: MessageIn, where: str, *, sees_images: bool) -> list[ChatMessage]:
    """One turn of the conversation as llmrelay's messages (a user turn with tool results is
    one `tool` message per result, then the user's own text, if any)."""
    if isinstance(message.content, str):
        return [ChatMessage(message.role, message.content)]
    pieces: list[TextPart] = []
    images: list[str] = []
    image_caches: list[dict[str, Any] | None] = []
    calls: list[ToolCall] = []
    results: list[ChatMessage] = []
    reasoning: list[ReasoningBlock] = []
    for index, block in enumerate(message.content):
        at = f"{where}.{index}"
        extra = block.model_extra or {}
        if block.type in _REASONING_FIELDS:
            reasoning.append(_reasoning_block(block, at, message.role))
        elif block.type == "text":
            if block.text is None:
                raise AnthropicError(400, f"{at}.text: Field required")
            pieces.append(TextPart(block.text, block.cache_control))
        elif block.type == "image":
            if not sees_images:
                raise AnthropicError(
                    400, f"{at}: this model cannot see images; send text, or use a model that sees."
                )
            images.append(_image_url(block, at))
            image_caches.append(block.cache_control)
        elif block.type == "tool_use" and message.role == "assistant":
            if not isinstance(extra.get("id"), str) or not isinstance(extra.get("name"), str):
                raise AnthropicError(400, f"{at}: a tool_use block needs its id and name.")
            arguments = json.dumps(extra.get("input") or {}, ensure_ascii=False, separators=(",", ":"))
            calls.append(ToolCall(extra["id"], extra["name"], arguments, block.cache_control))
        elif block.type == "tool_result" and message.role == "user":
            if not isinstance(extra.get("tool_use_id"), str):
                raise AnthropicError(400, f"{at}.tool_use_id: Field required")
            result = _result_text(block, at)
            results.append(
                ChatMessage("tool", result, tool_call_id=extra["tool_use_id"], cache=block.cache_control)
            )
        elif block.type in ("tool_use", "tool_result"):
            raise AnthropicError(
                400,
                f"{at}: {block.type} blocks belong in {'an assistant' if block.type == 'tool_use' else 'a user'} message.",
            )
        else:
            why = _BLOCK_REFUSALS.get(block.type, f"{block.type!r} blocks are not supported.")
            raise AnthropicError(400, f"{at}: {why}")
    # Adjacent text blocks are one text, as Anthropic reads them; the blocks themselves are
    # kept where one is a cache breakpoint, for an upstream that caches up to it.
    text = "".join(piece.text for piece in pieces)
    marked = any(piece.cache is not None for piece in pieces)
    own = ChatMessage(
        message.role,
        text,
        images=tuple(images),
        tool_calls=tuple(calls),
        reasoning=tuple(reasoning),
        text_parts=tuple(pieces) if marked else (),
        image_caches=tuple(image_caches) if any(c is not None for c in image_caches) else (),
    )
    if results and not (text or images):
        return results
    return [*results, own]


def system_text(system: str | list[SystemBlock] | None) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    # Separate system blocks are separate instructions (Claude Code sends several).
    return "\n\n".join(block.text for block in system if block.text) or None


def system_parts(system: str | list[SystemBlock] | None) -> tuple[TextPart, ...]:
    """The system blocks, where one of them is a cache breakpoint (none otherwise)."""
    if system is None or isinstance(system, str) or all(b.cache_control is None for b in system):
        return ()
    return tuple(TextPart(block.text, block.cache_control) for block in system if block.text)


def prompt_messages(
    body: CountTokensRequest | MessagesRequest, max_chars: int, *, sees_images: bool = False
) -> list[ChatMessage]:
    """The whole prompt as llmrelay's messages: the system text first, then the turns."""
    turns: list[ChatMessage] = []
    last = len(body.messages) - 1
    for index, message in enumerate(body.messages):
        converted = turn_messages(message, f"messages.{index}.content", sees_images=sees_images)
        for turn in converted:
            empty = (
                not turn.content.strip()
                and not (turn.images or turn.tool_calls or turn.reasoning)
                and turn.role != "tool"
            )
            # Anthropic's own rule: an assistant turn at the end may be empty (a prefill to continue).
            if empty and not (index == last and turn.role == "assistant"):
                raise AnthropicError(
                    400,
                    f"messages.{index}: all messages must have non-empty content except for the "
                    "optional final assistant message",
                )
            if len(turn.content) > max_chars:
                raise AnthropicError(
                    413,
                    f"messages.{index} is {len(turn.content)} characters; the limit is {max_chars} "
                    "(LLMRELAY_MAX_MESSAGE_CHARS).",
                )
        turns.extend(converted)
    system = system_text(body.system)
    if system is not None and len(system) > max_chars:
        raise AnthropicError(
            413, f"system is {len(system)} characters; the limit is {max_chars} (LLMRELAY_MAX_MESSAGE_CHARS)."
        )
    if system is None:
        return turns
    return [ChatMessage("system", system, text_parts=system_parts(body.system)), *turns]


def response_format(body: CountTokensRequest | MessagesRequest) -> ResponseFormat | None:
    """`output_config.format` as structured output (the same as Chat's json_schema format)."""
    config = body.output_config
    if config is None or config.format is None:
        return None
    return ResponseFormat("json_schema", config.format.json_schema)


def thinking_of(body: MessagesRequest) -> Thinking | None:
    asked = body.thinking
    if asked is None:
        return None
    return Thinking(asked.type, asked.budget_tokens, asked.display)


def _tool_fields(body: CountTokensRequest | MessagesRequest) -> dict[str, Any]:
    """`tools`, `tool_choice` (`any` is "required", `tool` names one) and whether calls may be
    parallel, as `GenerationRequest` fields."""
    choice = body.tool_choice
    tool_choice = None
    parallel = None
    if choice is not None:
        tool_choice = choice.name if choice.type == "tool" else _TOOL_CHOICE[choice.type]
        if choice.disable_parallel_tool_use is not None:
            parallel = not choice.disable_parallel_tool_use
    return {
        "tools": tuple(
            Tool(t.name, t.description, t.input_schema, t.strict, t.cache_control) for t in body.tools or ()
        ),
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel,
    }


def generation_request(body: MessagesRequest, messages: list[ChatMessage]) -> GenerationRequest:
    return GenerationRequest(
        messages=messages,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        stop=tuple(body.stop_sequences or ()),
        response_format=response_format(body),
        thinking=thinking_of(body),
        effort=body.output_config.effort if body.output_config is not None else None,
        **_tool_fields(body),
    )


def counted_request(body: CountTokensRequest, messages: list[ChatMessage]) -> GenerationRequest:
    """The prompt a token count is of: the messages, the tools and the output format (which
    take tokens too)."""
    return GenerationRequest(messages=messages, response_format=response_format(body), **_tool_fields(body))
