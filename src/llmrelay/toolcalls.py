"""Tool calls put back together from their streamed pieces (`ToolCallDelta`).

Upstreams stream a call as pieces by `index`: the first carries the call's id and name, the
rest fragments of its JSON arguments — of any size, empty ones too, several calls interleaved.
Joining by index (never by arrival order) is what keeps parallel calls apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmrelay.providers.base import ToolCall, ToolCallDelta


@dataclass
class _Building:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    def __init__(self) -> None:
        self._calls: dict[int, _Building] = {}

    def add(self, delta: ToolCallDelta) -> None:
        call = self._calls.setdefault(delta.index, _Building())
        if delta.id:
            call.id = delta.id
        if delta.name:
            call.name = delta.name
        if delta.arguments:
            call.arguments.append(delta.arguments)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(id=call.id, name=call.name, arguments="".join(call.arguments))
            for _, call in sorted(self._calls.items())
        )

    def arguments_of(self, index: int) -> str:
        call = self._calls.get(index)
        return "" if call is None else "".join(call.arguments)
