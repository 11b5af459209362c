"""Responses API output: the streamed events of a response, and the whole of it.

A streamed response is the full sequence OpenAI sends, each event with its `sequence_number`:
`response.created`, `response.in_progress`, `response.output_item.added`,
`response.content_part.added`, `response.output_text.delta`…, `response.output_text.done`,
`response.content_part.done`, `response.output_item.done`, and one terminal event:
`response.completed`, `response.incomplete` (cut at max_output_tokens) or `response.failed`.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

from llmrelay.api.openai.chat_completions.render import dumps
from llmrelay.api.openai.errors import error_response
from llmrelay.api.openai.responses.shape import ResponseShape, output_text
from llmrelay.providers.base import Finished, FinishReason, TextDelta, Usage
from llmrelay.streams import Failure, GenerationResult, LogEvent
from llmrelay.wire import sse
from llmrelay.wire.renderer import Renderer


class EventRenderer(Renderer):
    """A generation as the Responses API shows it: its event stream, or the whole `response`;
    a failure before start in OpenAI's error body."""

    def __init__(self, shape: ResponseShape) -> None:
        self.shape = shape
        self._seq = 0
        self._text: list[str] = []
        self._usage: Usage | None = None
        self._failure: Failure | None = None

    def event(self, kind: str, **data: Any) -> bytes:
        body = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return sse.encode(dumps(body), event=kind)

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.shape.message_id, "output_index": 0, "content_index": 0}

    def failure(self, failure: Failure) -> Response:
        return error_response(failure)

    def whole(self, result: GenerationResult) -> Response:
        return JSONResponse(self.shape.finished(result.text, result.finish_reason, result.usage, None))

    def opening(self) -> bytes:
        shape = self.shape
        return b"".join(
            [
                self.event("response.created", response=shape.body("in_progress")),
                self.event("response.in_progress", response=shape.body("in_progress")),
                self.event(
                    "response.output_item.added", output_index=0, item=shape.message(None, "in_progress")
                ),
                self.event("response.content_part.added", **self._where(), part=output_text("")),
            ]
        )

    def render(self, seq: int, event: LogEvent) -> bytes | None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            return self.event("response.output_text.delta", **self._where(), delta=event.text, logprobs=[])
        if isinstance(event, Usage):
            self._usage = event
            return None
        if isinstance(event, Failure):
            self._failure = event
            return None  # response.failed follows with Finished
        if isinstance(event, Finished):
            return self._end(event.reason)
        return None

    def _end(self, reason: FinishReason) -> bytes:
        text = "".join(self._text)
        final = self.shape.finished(text, reason, self._usage, self._failure)
        if final["status"] == "failed":
            return self.event("response.failed", response=final)
        item = final["output"][0]
        terminal = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return b"".join(
            [
                self.event("response.output_text.done", **self._where(), text=text, logprobs=[]),
                self.event("response.content_part.done", **self._where(), part=output_text(text)),
                self.event("response.output_item.done", output_index=0, item=item),
                self.event(terminal, response=final),
            ]
        )
