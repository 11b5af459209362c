"""Structured output and tools on the embedded model, through llama.cpp grammars.

A grammar constrains decoding token by token, so what the model writes always parses:
- JSON mode (`response_format` json_object): any JSON object;
- a JSON schema (`json_schema`): JSON that matches it;
- a tool call that must happen (`tool_choice` "required", or a named function): an object
  `{"name": <one of the tools>, "arguments": <that tool's parameters>}` — always a valid call.
With `tool_choice` "auto" the model chooses: it is told the tools and how to call one, decodes
freely, and an answer that is such an object naming a known tool becomes a call; anything else
stays text. The tools are described to the model in a system message in every mode, so it can
fill in sensible arguments.

The model's chat template knows no tool messages: an assistant's calls are shown to it as the
JSON it would have written, a tool's result as a user message saying which call it answers.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llmrelay.providers.base import BadGenerationRequest, ChatMessage, GenerationRequest, Tool, ToolCall

Mode = Literal["text", "json", "call", "auto"]


@dataclass(frozen=True)
class Plan:
    """How one request is decoded: the grammar (GBNF text) if any, and what the output is."""

    mode: Mode
    grammar: str | None = None


def mode_of(request: GenerationRequest) -> Mode:
    """What `plan` decides the output is, without building its grammar (what shapes the
    prompt, for counting its tokens)."""
    if request.tools and request.tool_choice != "none":
        return "auto" if (request.tool_choice or "auto") == "auto" else "call"
    return "text" if request.response_format is None else "json"


def plan(request: GenerationRequest) -> Plan:
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    tools = request.tools if request.tool_choice != "none" else ()
    if tools:
        choice = request.tool_choice or "auto"
        if choice == "auto":
            return Plan("auto")
        chosen = tools if choice == "required" else [t for t in tools if t.name == choice]
        if not chosen:
            raise BadGenerationRequest(f"tool_choice names {choice!r}, which is not among the tools.")
        return Plan("call", _gbnf(json_schema_to_gbnf, call_schema(chosen)))
    fmt = request.response_format
    if fmt is None:
        return Plan("text")
    if fmt.type == "json_object" or fmt.schema is None:
        return Plan("json", JSON_GBNF)
    return Plan("json", _gbnf(json_schema_to_gbnf, fmt.schema))


def _gbnf(convert: Any, schema: dict[str, Any]) -> str:
    try:
        return str(convert(json.dumps(schema)))
    except Exception as exc:  # the converter raises plain exceptions for what it cannot express
        raise BadGenerationRequest(f"The JSON schema cannot be turned into a grammar: {exc}.") from None


def call_schema(tools: Sequence[Tool]) -> dict[str, Any]:
    """One call of one of `tools`: its name, and arguments matching that tool's parameters."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.name},
                "arguments": tool.parameters or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for tool in tools
    ]
    return options[0] if len(options) == 1 else {"oneOf": options}


def tools_prompt(tools: Sequence[Tool], mode: Mode) -> str:
    lines = ["You can call these tools:"]
    for tool in tools:
        lines.append(f"- {tool.name}: {tool.description or ''}".rstrip(": "))
        lines.append(f"  parameters (JSON schema): {json.dumps(tool.parameters or {'type': 'object'})}")
    if mode == "auto":
        lines.append(
            'To call a tool, answer with only a JSON object {"name": "<tool>", "arguments": {...}}; '
            "otherwise answer in plain text."
        )
    else:
        lines.append('Answer with a JSON object {"name": "<tool>", "arguments": {...}} calling one of them.')
    return "\n".join(lines)


def model_messages(request: GenerationRequest, mode: Mode) -> list[dict[str, str]]:
    """The conversation as the model's chat template can take it (roles it knows, text only)."""
    names = {call.id: call.name for m in request.messages for call in m.tool_calls}
    out: list[dict[str, str]] = []
    for message in request.messages:
        out.append(_as_text(message, names))
    if mode in ("call", "auto"):
        tools = request.tools
        system = tools_prompt(tools, mode)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{system}"}
        else:
            out.insert(0, {"role": "system", "content": system})
    return out


def _as_text(message: ChatMessage, names: dict[str, str]) -> dict[str, str]:
    if message.role == "tool":
        name = names.get(message.tool_call_id or "", message.tool_call_id or "a tool")
        return {"role": "user", "content": f"Result of the call to {name}: {message.content}"}
    if message.tool_calls:
        calls = [{"name": c.name, "arguments": _loads(c.arguments)} for c in message.tool_calls]
        shown = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
        text = f"{message.content}\n{shown}" if message.content else shown
        return {"role": "assistant", "content": text}
    return {"role": message.role, "content": message.content}


def _loads(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def parse_call(text: str, tools: Sequence[Tool]) -> ToolCall | None:
    """The call `text` makes, if it is an object naming one of `tools`; else None."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("name") not in {t.name for t in tools}:
        return None
    arguments = data.get("arguments", {})
    if not isinstance(arguments, dict):
        return None
    return ToolCall(
        id=f"call_{secrets.token_hex(12)}",
        name=str(data["name"]),
        arguments=json.dumps(arguments, ensure_ascii=False, separators=(",", ":")),
    )
