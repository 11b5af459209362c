"""Model output rendered as markdown is safe HTML: nothing the model writes can run."""

from __future__ import annotations

import pytest

from llmrelay.markdown import StreamingRender, render_markdown, render_streaming


def test_markdown_renders() -> None:
    html = render_markdown("**bold** and `code`\n\n- one\n- two")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html and "<li>one</li>" in html


@pytest.mark.parametrize(
    "text, forbidden",
    [
        ("<script>alert(1)</script>", "<script"),
        ("<img src=x onerror=alert(1)>", "<img"),
        ("[click](javascript:alert(1))", 'href="javascript'),
        ('<a href="javascript:alert(1)">x</a>', "<a "),
        ("<iframe src=//evil></iframe>", "<iframe"),
        ("[x](data:text/html;base64,PHNjcmlwdD4=)", 'href="data'),
    ],
)
def test_nothing_executable_survives(text: str, forbidden: str) -> None:
    assert forbidden not in render_markdown(text)


def test_raw_html_is_shown_as_text() -> None:
    assert "&lt;b&gt;bold&lt;/b&gt;" in render_markdown("<b>bold</b>")


def test_links_are_kept_and_marked_nofollow() -> None:
    html = render_markdown("[docs](https://example.org/x)")
    assert 'href="https://example.org/x"' in html and "noopener" in html


# -- while the answer streams: final blocks and the open one ---------------------------------

STREAMED = "# Title\n\nSome **bold** words.\n\n- one\n- two\n\n```python\nprint('<b>hi</b>')\n```\n\nThe end, with `code`."


def test_every_prefix_splits_into_final_blocks_and_the_open_one() -> None:
    """At any point of an answer, the blocks called final render as they do in the whole
    answer, and final plus open is exactly what the whole prefix renders."""
    whole = render_markdown(STREAMED)
    for end in range(len(STREAMED) + 1):
        prefix = STREAMED[:end]
        split = render_streaming(prefix)
        assert split.closed_html + split.open_html == render_markdown(prefix), prefix
        assert whole.startswith(split.closed_html), prefix
        # The open part starts on the line after the final blocks: rendered alone, it is the same.
        rest = "".join(prefix.splitlines(keepends=True)[split.closed_lines :])
        assert render_markdown(rest) == split.open_html, prefix


def test_a_block_is_final_once_the_next_one_has_begun() -> None:
    assert render_streaming("Some text") == StreamingRender("", 0, "<p>Some text</p>\n")
    # A blank line does not end a paragraph for sure yet (a list may go on after one, too).
    assert render_streaming("Some text\n\n").closed_html == ""
    assert render_streaming("Some text\n\nMore") == StreamingRender("<p>Some text</p>\n", 2, "<p>More</p>\n")
    # An unclosed code fence is one open code block, rendered as code already.
    open_fence = render_streaming("Intro\n\n```js\nlet a = 1;")
    assert open_fence.closed_lines == 2
    assert open_fence.open_html == '<pre><code class="language-js">let a = 1;</code></pre>\n'


def test_line_counts_read_crlf_and_cr_as_line_breaks() -> None:
    assert render_streaming("one\r\n\r\ntwo").closed_lines == 2
    assert render_streaming("one\r\rtwo").closed_lines == 2


def test_the_streaming_halves_are_sanitised_too() -> None:
    split = render_streaming("<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>")
    assert "<script" not in split.closed_html + split.open_html
    assert "<img" not in split.closed_html + split.open_html
