"""A Messages API request as llmrelay's `GenerationRequest`, and what of it cannot be honoured.

`system` (a string or text blocks) becomes the leading system message; each message's content
(a string or blocks) becomes its text. Blocks other than text are refused by type, each with a
sentence saying why: images (no model served here reads them), and `tool_use` / `tool_result`
(tools come with the content model, issue 9: `content_text` is where those blocks will turn into
tool calls and results instead of a 400). The same holds for `tools`, `tool_choice`, `thinking`.

Sampling parameters are checked against what the chosen provider cannot honour
(`ProviderInfo.cannot`): `top_k` on the OpenAI backends is a 400, never a silent drop.
"""

from __future__ import annotations

from llmrelay.api.anthropic.errors import AnthropicError
from llmrelay.api.anthropic.schema import ContentBlock, CountTokensRequest, MessagesRequest, SystemBlock
from llmrelay.providers.base import ChatMessage, GenerationRequest, Provider

# Why each block kind llmrelay cannot take yet is refused.
_BLOCK_REFUSALS = {
    "image": "image blocks are not supported: no model this server serves reads images.",
    "document": "document blocks are not supported: send the document's text as a text block.",
    "tool_use": "tool_use blocks are not supported yet: this server does not run tools (send no tools).",
    "tool_result": "tool_result blocks are not supported yet: this server does not run tools (send no tools).",
    "thinking": "thinking blocks are not supported: this server has no extended thinking.",
    "redacted_thinking": "redacted_thinking blocks are not supported: this server has no extended thinking.",
}
# Request fields that ask for something llmrelay cannot do yet, and why.
_FIELD_REFUSALS = {
    "tools": "tool use is not supported yet by this server; send the request without tools.",
    "tool_choice": "tool use is not supported yet by this server; send the request without tool_choice.",
    "thinking": "extended thinking is not supported by this server.",
    "output_config": "output configuration (structured output, effort) is not supported by this server.",
    "mcp_servers": "MCP servers are not supported by this server.",
    "container": "containers are not supported by this server.",
    "context_management": "context management is not supported by this server.",
}
# The sampling fields of a request, by the `GenerationRequest` field providers list in `cannot`.
_SAMPLING = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "stop_sequences": "stop"}


def _asked(body: CountTokensRequest | MessagesRequest, name: str) -> bool:
    value = getattr(body, name, None)
    if name == "thinking" and isinstance(value, dict):
        return value.get("type") != "disabled"  # an explicit "no thinking" asks for nothing
    return value is not None and value != [] and value != {}


def unsupported(
    body: CountTokensRequest | MessagesRequest, provider: Provider, model: str
) -> AnthropicError | None:
    """The first field this server (or this model's provider) cannot honour, as a 400."""
    for name, why in _FIELD_REFUSALS.items():
        if _asked(body, name):
            return AnthropicError(400, f"{name}: {why}")
    if isinstance(body, MessagesRequest):
        cannot = provider.info.cannot
        for name, field in _SAMPLING.items():
            if _asked(body, name) and field in cannot:
                return AnthropicError(
                    400,
                    f"{name}: the model '{model}' (provider {provider.info.name}) cannot honour "
                    f"{name}; send the request without it.",
                )
    return None


def content_text(content: str | list[ContentBlock], where: str) -> str:
    """A message's text; a block that is not text is a 400 naming it and saying why."""
    if isinstance(content, str):
        return content
    pieces = []
    for index, block in enumerate(content):
        at = f"{where}.{index}"
        if block.type != "text":
            why = _BLOCK_REFUSALS.get(
                block.type, f"{block.type!r} blocks are not supported; only text blocks are."
            )
            raise AnthropicError(400, f"{at}: {why}")
        if block.text is None:
            raise AnthropicError(400, f"{at}.text: Field required")
        pieces.append(block.text)
    # Adjacent text blocks are one text, as Anthropic reads them.
    return "".join(pieces)


def system_text(system: str | list[SystemBlock] | None) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    # Separate system blocks are separate instructions (Claude Code sends several).
    return "\n\n".join(block.text for block in system if block.text) or None


def prompt_messages(body: CountTokensRequest | MessagesRequest, max_chars: int) -> list[ChatMessage]:
    """The whole prompt as llmrelay's messages: the system text first, then the turns."""
    turns = [
        ChatMessage(m.role, content_text(m.content, f"messages.{i}.content"))
        for i, m in enumerate(body.messages)
    ]
    last = len(turns) - 1
    for index, turn in enumerate(turns):
        # Anthropic's own rule: an assistant turn at the end may be empty (a prefill to continue).
        if not turn.content.strip() and not (index == last and turn.role == "assistant"):
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
    system = system_text(body.system)
    if system is not None and len(system) > max_chars:
        raise AnthropicError(
            413, f"system is {len(system)} characters; the limit is {max_chars} (LLMRELAY_MAX_MESSAGE_CHARS)."
        )
    return [ChatMessage("system", system), *turns] if system is not None else turns


def generation_request(body: MessagesRequest, messages: list[ChatMessage]) -> GenerationRequest:
    return GenerationRequest(
        messages=messages,
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        stop=tuple(body.stop_sequences or ()),
    )
