"""What an answer's content events add up to: its text, its reasoning, its refusal, the tool
calls it made and the log probabilities of its tokens.

One collector for every place that reads a log to its end (the generation itself, a remote
generation's result, the watchdog finishing a dead owner's answer), so they can never disagree
on what an answer said. The text is the answer alone: reasoning and refusal are kept apart.
"""

from __future__ import annotations

from llmrelay.providers.base import (
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
)
from llmrelay.toolcalls import ToolCallAssembler

# The events that are an answer's content (anything else in a log is bookkeeping).
ContentEvent = TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta
CONTENT_EVENTS = (TextDelta, ReasoningDelta, RefusalDelta, ToolCallDelta)


class AnswerParts:
    __slots__ = ("_calls", "_logprobs", "_reasoning", "_refusal", "_text", "reasoning_summary")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._refusal: list[str] = []
        self._logprobs: list[TokenLogprob] = []
        self._calls = ToolCallAssembler()
        # Whether the reasoning shown is a summary of it (the Responses API's kind).
        self.reasoning_summary = False

    def add(self, event: object) -> bool:
        """Take one event; True when it was content (the answer has started)."""
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            if event.logprobs:
                self._logprobs.extend(event.logprobs)
        elif isinstance(event, ToolCallDelta):
            self._calls.add(event)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
            self.reasoning_summary = self.reasoning_summary or event.summary
        elif isinstance(event, RefusalDelta):
            self._refusal.append(event.text)
        else:
            return False
        return True

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def refusal(self) -> str:
        return "".join(self._refusal)

    @property
    def logprobs(self) -> tuple[TokenLogprob, ...]:
        return tuple(self._logprobs)

    def calls(self) -> tuple[ToolCall, ...]:
        return self._calls.calls()

    def produced(self) -> str:
        """Everything the model wrote, for estimating its output tokens where none were reported."""
        calls = "".join(call.name + call.arguments for call in self.calls())
        return self.reasoning + self.text + self.refusal + calls
