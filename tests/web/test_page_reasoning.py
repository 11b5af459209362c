"""The reasoning a model shows, and its refusals, on the chat page in a real browser (Debian's
chromium through Playwright): a collapsed "Thinking…" disclosure above the answer that grows
while the answer streams and then says how long the model thought, never part of the answer or
of what Copy copies; shown exactly once after a cut connection is resumed and after a reload in
the middle of an answer; gone after a reload of a finished one (it is not stored). A refusal in
a notice of its own.

A real llmrelay in front of the OpenAI stand-in (tests/support/fake_openai.py), which streams a
Chat server's `reasoning_content` and `refusal` deltas at the pace its script sets.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import (
    StreamCutter,
    answers,
    ask,
    expect_form_busy,
    expect_form_enabled,
    last_answer,
    open_conversation_id,
    requests_to,
    stored_conversation,
)
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.upstream import serve_relay
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser

THOUGHTS = tuple(f"Step {i}: weigh option {i}.\n" for i in range(8))
ANSWER = ("The", " answer", " is", " **forty", "-two**", " after", " all", ".")
SHOWN_ANSWER = "The answer is forty-two after all."  # rendered: no `**`
THOUGHT_FOR = re.compile(r"^Thought for (less than 1|\d+) s$")


def reasoning(page: Page) -> Locator:
    return page.locator("#transcript article.assistant details.reasoning").last


def reasoning_text(page: Page) -> str:
    return reasoning(page).locator(".reasoning-text").text_content() or ""


def summary(page: Page) -> Locator:
    return reasoning(page).locator("summary")


def answered(page: Page, timeout: float = 15_000) -> None:
    expect(page.locator("#status")).to_have_text("Done.", timeout=timeout)
    expect_form_enabled(page)


def test_reasoning_grows_collapsed_above_the_answer_and_stays_out_of_it(
    clipboard_page: Page, fake: FakeOpenAI, fake_url: str
) -> None:
    page = clipboard_page
    fake.script = Script(deltas=ANSWER, reasoning=THOUGHTS, delay_seconds=0.3)
    with serve_relay("openai-compatible", fake_url, model="gpt-4o-mini") as url:
        page.goto(url)
        ask(page, "What is the answer?")
        disclosure = reasoning(page)

        # While the model reasons: a collapsed disclosure, named for screen readers, saying so.
        expect(page.get_by_role("group", name="Reasoning", exact=True)).to_be_visible()
        expect(summary(page)).to_have_text("Thinking…")
        expect(page.locator("#status")).to_have_text("Thinking…")
        expect(disclosure.locator(".reasoning-text")).to_be_hidden()
        expect_form_busy(page)
        wait_until(lambda: reasoning_text(page) != "", what="the first reasoning")
        partway = reasoning_text(page)
        assert "".join(THOUGHTS).startswith(partway) and partway != "".join(THOUGHTS)
        assert last_answer(page) == ""

        # The keyboard opens it (a native disclosure); opened, it stays open as it grows.
        summary(page).focus()
        page.keyboard.press("Enter")
        expect(disclosure).to_have_js_property("open", True)
        expect(disclosure.locator(".reasoning-text")).to_be_visible()
        wait_until(lambda: len(reasoning_text(page)) > len(partway), what="more reasoning")

        # The answer starts: the summary says how long the model thought, while the answer streams.
        expect(summary(page)).to_have_text(THOUGHT_FOR)
        expect(page.locator("#status")).to_have_text("Answering…")
        wait_until(lambda: last_answer(page) != "", what="the first words of the answer")
        assert SHOWN_ANSWER.startswith(last_answer(page)) and last_answer(page) != SHOWN_ANSWER
        assert reasoning_text(page) == "".join(THOUGHTS)
        took = re.match(r"Thought for (\d+) s", summary(page).text_content() or "")
        assert took is not None and 1 <= int(took[1]) <= 10  # eight thoughts 0.3 s apart
        expect(disclosure).to_have_js_property("open", True)
        page.keyboard.press("Space")  # the summary kept the focus: Space closes it again
        expect(disclosure).to_have_js_property("open", False)
        expect(disclosure.locator(".reasoning-text")).to_be_hidden()

        answered(page)
        # The stored answer took the streamed one's place; the reasoning stayed, once, apart.
        assert answers(page) == [SHOWN_ANSWER]
        assert reasoning_text(page) == "".join(THOUGHTS)
        expect(summary(page)).to_have_text(THOUGHT_FOR)
        article = page.locator("#transcript article.assistant")
        assert (article.text_content() or "").count(THOUGHTS[0]) == 1
        # Above the answer: the answer's body follows the disclosure.
        assert disclosure.evaluate("d => d.compareDocumentPosition(d.parentNode.querySelector('.body'))") & 4
        summary(page).click()  # and a click opens it
        expect(disclosure).to_have_js_property("open", True)

        article.get_by_role("button", name="Copy", exact=True).click()
        expect(article.get_by_role("button", name="Copied", exact=True)).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == "".join(ANSWER)  # the answer only

        conversation_id = open_conversation_id(page)
        assert conversation_id is not None
        assert stored_conversation(url, conversation_id)["messages"][-1]["content"] == "".join(ANSWER)
        # Reasoning is not stored: after a reload the answer is there, and no reasoning.
        page.reload()
        expect(page.locator("#transcript article.assistant")).to_have_count(1)
        expect(page.locator("#transcript article.assistant .body")).not_to_be_empty()
        assert answers(page) == [SHOWN_ANSWER]
        expect(reasoning(page)).to_be_hidden()
        assert reasoning_text(page) == ""


def test_a_cut_connection_resumes_with_the_reasoning_shown_once(
    page: Page, fake: FakeOpenAI, fake_url: str
) -> None:
    thoughts = tuple(f"thought {i}. " for i in range(14))
    fake.script = Script(deltas=ANSWER, reasoning=thoughts, delay_seconds=0.1)
    with serve_relay("openai-compatible", fake_url, model="gpt-4o-mini", detach_grace_seconds=5) as url:
        port = urlsplit(url).port
        assert port is not None
        # start and three reasoning events, then the connection drops, mid-reasoning.
        with StreamCutter(port, cut_after=4) as proxy:
            page.goto(proxy.url)
            streams = requests_to(page, lambda m, path: path == "/api/chat" or path.endswith("/events"))
            ask(page, "Think it over.")
            answered(page)
            assert proxy.cut.is_set()
            assert [urlsplit(r.url).path.rsplit("/", 1)[-1] for r in streams] == ["chat", "events"]
            assert streams[1].headers.get("last-event-id", "").startswith("msg_")
            # Every thought once, in order: the resume brought exactly the ones after the cut.
            assert reasoning_text(page) == "".join(thoughts)
            expect(summary(page)).to_have_text(THOUGHT_FOR)
            assert answers(page) == [SHOWN_ANSWER]
            expect(page.locator("#error")).to_be_hidden()
            assert len(fake.requests) == 1  # resumed, not asked again


def test_a_reload_mid_reasoning_shows_it_once_and_goes_on(
    page: Page, fake: FakeOpenAI, fake_url: str
) -> None:
    thoughts = tuple(f"idea {i}. " for i in range(24))
    fake.script = Script(deltas=ANSWER, reasoning=thoughts, delay_seconds=0.1)
    with serve_relay("openai-compatible", fake_url, model="gpt-4o-mini", detach_grace_seconds=5) as url:
        page.goto(url)
        ask(page, "Think it over.")
        wait_until(lambda: reasoning_text(page).count("idea") >= 3, what="some reasoning")
        attaches = requests_to(page, lambda method, path: path.endswith("/events"))
        page.reload()

        # Attached again: what was reasoned so far comes again, once, and it goes on live.
        expect(summary(page)).to_have_text("Thinking…")
        wait_until(lambda: reasoning_text(page).count("idea") >= 6, what="the reasoning to go on")
        expect_form_busy(page)
        answered(page)
        assert len(attaches) == 1
        assert reasoning_text(page) == "".join(thoughts)
        # The page did not see the earlier reasoning arrive, so it does not say how long it took.
        expect(summary(page)).to_have_text("Reasoning")
        assert answers(page) == [SHOWN_ANSWER]
        assert len(fake.requests) == 1


def test_an_answer_left_mid_reasoning_comes_back_with_it_once(
    page: Page, fake: FakeOpenAI, fake_url: str
) -> None:
    thoughts = tuple(f"notion {i}. " for i in range(16))
    fake.script = Script(deltas=ANSWER, reasoning=thoughts, delay_seconds=0.15)
    with serve_relay("openai-compatible", fake_url, model="gpt-4o-mini") as url:
        page.goto(url)
        ask(page, "Ponder this.")
        wait_until(lambda: reasoning_text(page).count("notion") >= 3, what="some reasoning")
        page.get_by_role("button", name="New chat").click()  # followed off screen meanwhile
        expect(page.locator("#transcript article")).to_have_count(0)
        page.get_by_role("link", name="Ponder this.").click()
        # Back on screen, still reasoning: what came while away, and no word of it twice.
        expect(summary(page)).to_have_text("Thinking…")
        answered(page)
        assert reasoning_text(page) == "".join(thoughts)
        expect(summary(page)).to_have_text(THOUGHT_FOR)  # this page saw all of it arrive
        assert answers(page) == [SHOWN_ANSWER]
        assert len(fake.requests) == 1


def test_a_regenerated_answer_shows_its_own_reasoning_only(
    page: Page, fake: FakeOpenAI, fake_url: str
) -> None:
    fake.script = Script(deltas=("First.",), reasoning=("old thought. ",) * 3)
    with serve_relay("openai-compatible", fake_url, model="gpt-4o-mini") as url:
        page.goto(url)
        ask(page, "Answer twice.")
        answered(page)
        assert reasoning_text(page) == "old thought. " * 3

        fake.script = Script(deltas=("Second.",), reasoning=("new ", "thought."), delay_seconds=0.3)
        page.get_by_role("button", name="Regenerate").click()
        expect(summary(page)).to_have_text("Thinking…")
        answered(page)
        assert reasoning_text(page) == "new thought."
        expect(summary(page)).to_have_text(THOUGHT_FOR)
        assert answers(page) == ["Second."]
        expect(page.locator("#transcript details.reasoning")).to_have_count(1)


REFUSAL = ("I can't ", "help with ", "that.")


def test_a_refusal_is_a_notice_apart_from_the_answer(
    clipboard_page: Page, fake: FakeOpenAI, fake_url: str
) -> None:
    page = clipboard_page
    fake.script = Script(deltas=(), refusal=REFUSAL, delay_seconds=0.4)
    with serve_relay("openai-compatible", fake_url, model="gpt-4o-mini") as url:
        page.goto(url)
        ask(page, "Do something bad.")
        notice = page.locator("#transcript article.assistant .refusal").last
        expect(notice).to_be_visible()
        expect(notice.locator(".refusal-label")).to_have_text("The model declined:")
        expect(page.locator("#status")).to_have_text("Answering…")  # while it streams
        partway = notice.locator(".refusal-text").text_content() or ""
        assert "".join(REFUSAL).startswith(partway) and partway != "".join(REFUSAL)
        expect(page.locator("#transcript article.assistant .body")).to_be_hidden()  # no empty bubble

        answered(page)
        expect(notice.locator(".refusal-text")).to_have_text("".join(REFUSAL))
        assert answers(page) == [""]
        expect(page.locator("#transcript article.assistant .body")).to_be_hidden()
        expect(reasoning(page)).to_be_hidden()
        # Copy copies the refusal when it is all the model said.
        article = page.locator("#transcript article.assistant")
        article.get_by_role("button", name="Copy", exact=True).click()
        expect(article.get_by_role("button", name="Copied", exact=True)).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == "".join(REFUSAL)

        # An answer, then a refusal after it: each in its place, the refusal not in the answer.
        fake.script = Script(deltas=ANSWER, refusal=(" But I ", "won't say more."), delay_seconds=0.1)
        ask(page, "Say more.")
        answered(page)
        second = page.locator("#transcript article.assistant").last
        assert last_answer(page) == SHOWN_ANSWER
        expect(second.locator(".refusal-text")).to_have_text(" But I won't say more.")
        second.get_by_role("button", name="Copy", exact=True).click()
        expect(second.get_by_role("button", name="Copied", exact=True)).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == "".join(ANSWER)

        # The conversation keeps the refusal after the text, as read; after a reload the page
        # cannot tell it apart any more, and shows what is stored.
        conversation_id = open_conversation_id(page)
        assert conversation_id is not None
        stored = stored_conversation(url, conversation_id)["messages"]
        assert [m["content"] for m in stored if m["role"] == "assistant"] == [
            "".join(REFUSAL),
            "".join(ANSWER) + " But I won't say more.",
        ]
        page.reload()
        expect(page.locator("#transcript article.assistant")).to_have_count(2)
        expect(page.locator("#transcript .refusal:not([hidden])")).to_have_count(0)
        assert [a.strip() for a in answers(page)] == [
            "".join(REFUSAL),
            SHOWN_ANSWER + " But I won't say more.",
        ]
