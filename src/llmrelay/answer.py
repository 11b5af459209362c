"""What an answer's content events add up to: its text, its reasoning, its refusal, the tool
calls it made and the log probabilities of its tokens.

One collector for every place that reads a log to its end (the generation itself, a remote
generation's result, the watchdog finishing a dead owner's answer), so they can never disagree
on what an answer said. The text is the answer alone: reasoning and refusal are kept apart.
The reasoning is kept whole (what the OpenAI surfaces show) and as its blocks, each with the
signature that ended it or its redacted data (what Anthropic's clients give back).
"""

from __future__ import annotations

from llmrelay.providers.base import (
    ReasoningBlock,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
)
from llmrelay.toolcalls import ToolCallAssembler

# The events that are an answer's content (anything else in a log is bookkeeping).
ContentEvent = (
    TextDelta | ReasoningDelta | ReasoningSignature | RedactedReasoning | RefusalDelta | ToolCallDelta
)
CONTENT_EVENTS = (
    TextDelta,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RefusalDelta,
    ToolCallDelta,
)


class AnswerParts:
    __slots__ = (
        "_block",
        "_blocks",
        "_calls",
        "_logprobs",
        "_reasoning",
        "_refusal",
        "_text",
        "reasoning_summary",
    )

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        # Reasoning blocks ended so far, and the text of the one not yet ended.
        self._blocks: list[ReasoningBlock] = []
        self._block: list[str] | None = None
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
            if self._block is None:
                self._block = []
            self._block.append(event.text)
        elif isinstance(event, ReasoningSignature):
            self._blocks.append(ReasoningBlock("".join(self._block or ()), event.signature))
            self._block = None
        elif isinstance(event, RedactedReasoning):
            self._end_block()
            self._blocks.append(ReasoningBlock(redacted=event.data))
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

    def _end_block(self) -> None:
        if self._block is not None:
            # Reasoning nobody signed (an OpenAI-style server's reasoning_content).
            self._blocks.append(ReasoningBlock("".join(self._block)))
            self._block = None

    def reasoning_blocks(self) -> tuple[ReasoningBlock, ...]:
        """The reasoning as its blocks, in order; text after the last signature is a block of
        its own with no signature."""
        pending = [ReasoningBlock("".join(self._block))] if self._block is not None else []
        return (*self._blocks, *pending)

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
