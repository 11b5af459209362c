"""`POST /api/markdown`: the page's answer while it streams, rendered as it will be once stored.

The page sends only what may still change (the text after the blocks it already shows as
final, see llmrelay.markdown) about once per animation frame, one request at a time, so the
work per answer grows with its length, not with its length times its tokens.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from llmrelay.markdown import render_streaming

router = APIRouter(prefix="/api", tags=["chat"])

# Far beyond an answer's last block; a longer text is refused (422), and the page shows it as text.
MAX_MARKDOWN_CHARS = 200_000


class MarkdownIn(BaseModel):
    text: str = Field(
        max_length=MAX_MARKDOWN_CHARS, description="Markdown, e.g. the end of an answer being written."
    )


class MarkdownOut(BaseModel):
    closed_html: str = Field(description="Sanitised HTML of the blocks no later text can change.")
    closed_lines: int = Field(description="The lines of `text` those blocks take (CRLF and CR count as LF).")
    open_html: str = Field(description="Sanitised HTML of the last block, which more text may still change.")


@router.post("/markdown", response_model=MarkdownOut, summary="Render markdown still being written")
async def markdown(body: MarkdownIn) -> MarkdownOut:
    rendered = render_streaming(body.text)
    return MarkdownOut(
        closed_html=rendered.closed_html, closed_lines=rendered.closed_lines, open_html=rendered.open_html
    )
