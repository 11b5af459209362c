"""Model output as safe HTML: CommonMark by markdown-it-py, then sanitised by nh3 (ammonia).

Rendered on the server so the page needs no third-party script, and an answer looks the same
while it streams and once it is stored (one renderer for both). Raw HTML in the text is
escaped by the parser (html=False) and whatever survives is cleaned again by an allow-list, so
a model that writes `<script>` shows it as text.

While an answer streams, `render_streaming` splits it in two. CommonMark parses blocks line by
line and never reopens a block once a later one has begun, so every top-level block but the
last is final: the page keeps those as they are (a selection in them survives) and sends only
the rest — the last, open block, which the next words may still change — to be rendered again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def _clean(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def render_markdown(text: str) -> str:
    return _clean(_parser().render(text))


@dataclass(frozen=True, slots=True)
class StreamingRender:
    """Text still being written, as the HTML of its final blocks and of its open last block."""

    closed_html: str
    # How many lines of the text the final blocks take (lines end with LF; markdown-it reads
    # CRLF and CR as LF too): the open block starts on the line after them.
    closed_lines: int
    open_html: str


def render_streaming(text: str) -> StreamingRender:
    parser = _parser()
    env: dict[str, object] = {}
    tokens = parser.parse(text, env)
    # The last top-level block begins at the last token of nesting level 0 that opens a block
    # (`map` is set on those: the source lines the block spans).
    split = next(
        (
            i
            for i in range(len(tokens) - 1, -1, -1)
            if tokens[i].level == 0 and tokens[i].map is not None and tokens[i].nesting >= 0
        ),
        0,
    )
    lines = tokens[split].map[0] if tokens and tokens[split].map else 0  # type: ignore[index]
    render = parser.renderer.render
    return StreamingRender(
        closed_html=_clean(render(tokens[:split], parser.options, env)),
        closed_lines=lines,
        open_html=_clean(render(tokens[split:], parser.options, env)),
    )
