"""Request bodies of /v1/messages and /v1/messages/count_tokens (Anthropic's field names).

Unknown fields are refused, as Anthropic refuses them ("Extra inputs are not permitted").
Fields Anthropic knows but llmrelay cannot honour (MCP servers, server tools, containers…)
are accepted by the schema and refused by `translate.unsupported()` with a 400 naming the field: a client must learn it did not get what
it asked for, instead of getting something else quietly. Hints that change nothing about a text
answer (`metadata`, `service_tier`, the request's top-level `cache_control`…) are accepted and
ignored. The `cache_control` of a system block, a content block or a tool is a prompt-caching
breakpoint: kept (translate.py) for a provider that caches (Anthropic), ignored by the others.

Content blocks are one model with a `type` and whatever else the block has; `translate` turns
each kind it knows into the content model and refuses the others by type, with a sentence
saying why.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContentBlock(BaseModel):
    """One block of a message's content: text, image, tool_use, tool_result, document…"""

    # Each kind has its own keys (source, id, input, tool_use_id, content…): allowed here, and
    # the kinds llmrelay cannot take yet are refused by `type` in translate.py.
    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    text: str | None = None
    # A prompt-caching breakpoint (kept for an Anthropic upstream); citations of a text block
    # read back from a response (no effect here).
    cache_control: dict[str, Any] | None = None
    citations: list[Any] | None = None


class SystemBlock(_Strict):
    type: Literal["text"]
    text: str
    cache_control: dict[str, Any] | None = None
    citations: list[Any] | None = None


class ToolIn(BaseModel):
    """A tool the model may call. Client tools have a name and an `input_schema`; Anthropic's
    server tools (web search, code execution…) have a `type` of their own and are refused."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    type: str | None = None
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


class ToolChoiceIn(_Strict):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class MessageIn(_Strict):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class ThinkingIn(_Strict):
    """Extended thinking, as the SDK's ThinkingConfigParam: `enabled` with `budget_tokens`
    (at least 1024, below max_tokens: `translate` checks what depends on the other fields),
    `adaptive`, `disabled` or `between_tools`; `display` summarized or omitted."""

    type: Literal["enabled", "adaptive", "disabled", "between_tools"]
    budget_tokens: int | None = Field(None, ge=1024)
    display: Literal["summarized", "omitted"] | None = None


class JSONOutputFormat(_Strict):
    type: Literal["json_schema"]
    # `schema` is a BaseModel attribute's name: the field is read by its alias.
    json_schema: dict[str, Any] = Field(alias="schema")


class OutputConfigIn(_Strict):
    """Structured output (`format`: a JSON schema) and how much effort to spend."""

    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: JSONOutputFormat | None = None


class Metadata(_Strict):
    # An opaque id of the end user, for the upstream's abuse detection; llmrelay keeps no use for it.
    user_id: str | None = None


class _Common(_Strict):
    """What a message request and a token count share."""

    model: str = Field(min_length=1)
    messages: list[MessageIn] = Field(min_length=1)
    system: str | list[SystemBlock] | None = None
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    thinking: ThinkingIn | None = None
    output_config: OutputConfigIn | None = None
    # Accepted and ignored.
    cache_control: dict[str, Any] | None = None
    speed: str | None = None


class MessagesRequest(_Common):
    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = None
    stream: bool | None = False
    # Anthropic's SDKs (since 1.0) send these only through extra_body, and Anthropic's newest
    # models refuse them; a provider that cannot honour one gets a 400, never a silent drop.
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=0)
    metadata: Metadata | None = None
    # Accepted and ignored: they change nothing about the answer's text.
    service_tier: str | None = None
    inference_geo: str | None = None
    # Refused by `unsupported()`.
    mcp_servers: list[dict[str, Any]] | None = None
    container: Any = None
    context_management: dict[str, Any] | None = None


class CountTokensRequest(_Common):
    """/v1/messages/count_tokens: the same prompt, nothing about generating."""
