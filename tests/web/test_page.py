"""The chat page at `/`, driven in a real browser (Debian's chromium through Playwright): one
answer at a time — streaming, Stop, errors, markup, dropped connections, the embedded model.

Each test serves a real llmrelay (with a fresh SQLite file) on a free port; a ScriptedProvider
sets the timing, so "while it streams" is a real window, and tells how often the model was asked
and whether it was stopped. Conversations (history, reloads, the list) are in test_page_conversations.py;
models, images, tool calls, markdown while streaming, copy and regenerate in test_page_content.py.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from llmrelay import __version__
from llmrelay.api.web import WEB_DIR
from llmrelay.app import create_app
from llmrelay.providers.base import ProviderError
from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.support.browser import (
    StreamCutter,
    answers,
    ask,
    dialogs_of,
    expect_form_busy,
    expect_form_enabled,
    last_answer,
    llmrelay,
    open_conversation_id,
    questions,
    refuse_requests,
    requests_to,
    stored_conversation,
)
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser


STORY = ["Once", " upon a time,", "\nthere was", "  a fox 🦊", " who", " liked", " streams", "."]


def chat_posts(page: Page) -> list[Request]:
    return requests_to(page, lambda method, path: method == "POST" and path == "/api/chat")


def test_the_answer_grows_while_it_streams_and_the_form_waits(page: Page) -> None:
    provider = ScriptedProvider(Script(STORY, delay_seconds=0.3))
    whole = "".join(STORY)
    with llmrelay(provider) as url:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        expect(page.get_by_label("Your message")).to_be_visible()
        prompt = "Tell me a story\nabout a fox 🦊"
        ask(page, prompt)

        wait_until(lambda: last_answer(page) != "", what="the first words")
        partway = last_answer(page)
        assert whole.startswith(partway) and partway != whole
        expect_form_busy(page)
        expect(page.locator("#status")).to_have_text("Answering…")
        assert questions(page) == [prompt]  # the question, exactly as typed, line break and all

        expect(page.locator("#status")).to_have_text("Done.", timeout=15_000)
        expect_form_enabled(page)
        expect(page.locator("#error")).to_be_hidden()
        expect(page.locator("#input")).to_have_value("")
        # Once whole, the answer is the stored one, rendered: the same words.
        assert last_answer(page).strip() == whole
        conversation_id = open_conversation_id(page)
        assert conversation_id is not None
        stored = stored_conversation(url, conversation_id)
        assert [(m["role"], m["content"], m["status"]) for m in stored["messages"]] == [
            ("user", prompt, "complete"),
            ("assistant", whole, "complete"),
        ]

    assert [r.messages[-1].content for r in provider.requests] == [prompt]
    # The page, its scripts and its style all come from llmrelay itself: no CDN, no network.
    assert requests and all(u.startswith(url + "/") for u in requests), requests
    # Every module of the script is asked for by this version (no stale one from a cache).
    modules = [u for u in requests if urlsplit(u).path.endswith(".js")]
    shipped = sorted(f.name for f in (WEB_DIR / "static").glob("*.js"))
    assert sorted(urlsplit(u).path.rsplit("/", 1)[1] for u in modules) == shipped, modules
    assert all(u.endswith(f".js?v={__version__}") for u in modules), modules


def test_stop_ends_the_answer_now_and_keeps_what_was_written(page: Page) -> None:
    deltas = [f" word{i}" for i in range(60)]
    provider = ScriptedProvider(Script(deltas, delay_seconds=0.15))
    # A long grace period: only the cancel endpoint can stop the model within seconds.
    with llmrelay(provider, detach_grace_seconds=60) as url:
        page.goto(url)
        cancels = requests_to(page, lambda method, path: method == "POST" and path.endswith("/cancel"))
        ask(page, "Talk for a long time.")
        wait_until(lambda: len(last_answer(page)) > len(" word0 word1"), what="a few words")
        page.get_by_role("button", name="Stop").click()

        expect(page.locator("#status")).to_have_text("Stopped.")
        expect_form_enabled(page)
        wait_until(lambda: provider.cancelled == 1, timeout=3, what="the server to cancel the generation")
        assert len(cancels) == 1
        stopped_at = last_answer(page)
        time.sleep(0.5)
        assert last_answer(page) == stopped_at  # nothing more arrives
        expect(page.locator("#transcript .note")).to_have_text("Stopped.")
        expect(page.locator("#error")).to_be_hidden()

        conversation_id = open_conversation_id(page)
        assert conversation_id is not None
        answer = stored_conversation(url, conversation_id)["messages"][-1]
        assert answer["status"] == "cancelled"
        assert answer["content"] != "" and answer["content"] != "".join(deltas)
        assert stopped_at.strip() == answer["content"].strip()  # what the page shows is what was kept
        assert len(provider.requests) == 1


def test_stop_before_the_first_word_cancels_the_generation(page: Page) -> None:
    provider = ScriptedProvider(Script(["Too", " late"], delay_seconds=5))
    with llmrelay(provider, detach_grace_seconds=60) as url:
        page.goto(url)
        ask(page, "Think hard first.")
        expect(page.locator("#status")).to_have_text("Waiting for the model…")
        wait_until(lambda: provider.active == 1, what="the generation to start")
        page.keyboard.press("Escape")  # Esc stops, as the hint says

        expect(page.locator("#status")).to_have_text("Stopped.")
        expect_form_enabled(page)
        wait_until(lambda: provider.cancelled == 1, timeout=3, what="the server to cancel the generation")
        assert questions(page) == ["Think hard first."]
        assert answers(page) == [""]
        expect(page.locator("#error")).to_be_hidden()


def test_an_error_after_the_start_is_shown_and_not_retried(page: Page) -> None:
    error = ProviderError("The model provider failed halfway through.")
    provider = ScriptedProvider(Script(["Half", " an answer", " never", " seen"], 0.1, error, fail_after=2))
    with llmrelay(provider) as url:
        page.goto(url)
        posts = chat_posts(page)
        ask(page, "Try your best.")

        expect(page.get_by_role("alert")).to_have_text("The model provider failed halfway through.")
        expect(page.locator("#status")).to_have_text("The answer stopped because of an error.")
        expect_form_enabled(page)
        assert last_answer(page).strip() == "Half an answer"
        # The transcript keeps it, with why it stopped (as it will after a reload).
        expect(page.locator("#transcript .note")).to_have_text(
            "This answer failed: The model provider failed halfway through."
        )
        time.sleep(2.5)  # longer than the server's `retry:`, so a reconnect would have happened
        assert len(provider.requests) == 1
        assert len(posts) == 1


@pytest.mark.parametrize(
    ("prompt", "shown"),
    [
        pytest.param("   ", "message must not be empty or only whitespace.", id="blank-422"),
        pytest.param(
            "x" * 41,
            "message is 41 characters; the limit is 40 (LLMRELAY_MAX_MESSAGE_CHARS).",
            id="too-long-413",
        ),
    ],
)
def test_a_refused_message_shows_the_servers_detail_and_stays_in_the_box(
    page: Page, prompt: str, shown: str
) -> None:
    # Refused before anything is stored. (A model failing before its answer starts is stored,
    # and the page opens it: test_page_keys.py.)
    provider = ScriptedProvider(Script(["never"]))
    with llmrelay(provider, max_message_chars=40) as url:
        page.goto(url)
        posts = chat_posts(page)
        ask(page, prompt)

        expect(page.get_by_role("alert")).to_have_text(shown)
        expect_form_enabled(page)
        expect(page.locator("#input")).to_have_value(prompt)  # still there, to fix and send again
        assert answers(page) == [] and questions(page) == []
        expect(page.locator("#conversationList a")).to_have_count(0)
        assert open_conversation_id(page) is None
        time.sleep(1.5)  # no second request comes to explain the first
        assert provider.requests == []
        assert len(posts) == 1


def test_an_unreachable_server_is_said_so_once(page: Page) -> None:
    provider = ScriptedProvider(Script(["never"]))
    with llmrelay(provider) as url:
        page.goto(url)
        tries = refuse_requests(page, "**/api/chat")
        ask(page, "Hello?")

        expect(page.get_by_role("alert")).to_have_text("The server cannot be reached. Is llmrelay running?")
        expect_form_enabled(page)
        expect(page.locator("#input")).to_have_value("Hello?")  # kept, to send again
        assert questions(page) == [] and answers(page) == []
        time.sleep(1.5)
        assert tries == [f"{url}/api/chat"]  # tried once, refused, and not tried again by itself
        expect(page.get_by_role("alert")).to_have_count(1)

        # Reachable again: the same message, sent again, is the first the model ever gets.
        page.unroute("**/api/chat")
        page.click("#submitButton")
        expect(page.locator("#status")).to_have_text("Done.")
        expect(page.locator("#error")).to_be_hidden()
        assert [a.strip() for a in answers(page)] == ["never"]
        assert tries == [f"{url}/api/chat"]
    assert [r.messages[-1].content for r in provider.requests] == ["Hello?"]


def test_markup_is_shown_as_text_and_never_run(page: Page) -> None:
    reply = ["<script>alert(1)</script>", " <b>bold</b>", " <img src=x onerror=alert(2)>"]
    provider = ScriptedProvider(Script(reply, delay_seconds=0.2))
    prompt = "<i>Show</i> me <img src=y onerror=alert(3)>"
    with llmrelay(provider) as url:
        dialogs = dialogs_of(page, accept=False)
        page.goto(url)
        page.fill("#input", prompt)
        page.press("#input", "Enter")  # Enter sends, as the hint says

        wait_until(lambda: "<b>" in last_answer(page), what="markup, streamed as text")
        expect(page.locator("#status")).to_have_text("Done.")
        assert last_answer(page).strip() == "".join(reply)
        assert questions(page) == [prompt]
        expect(page.locator("#conversationList")).to_contain_text("<i>Show</i> me")  # its title
        for tag in ("b", "i", "script", "img"):
            assert page.locator(f"#transcript {tag}, #conversationList {tag}").count() == 0
        time.sleep(0.3)
        assert dialogs == []


def test_markdown_is_rendered_safely_while_it_streams_and_when_the_answer_ends(page: Page) -> None:
    reply = ["Some ", "**bold**", " words,", " `code`", " and", " <img src=x onerror=alert(1)>", " end."]
    provider = ScriptedProvider(Script(reply, delay_seconds=0.25))
    with llmrelay(provider) as url:
        dialogs = dialogs_of(page, accept=False)
        page.goto(url)
        ask(page, "Format something.")

        # While it streams the answer is already formatted (markdown.js; more in test_page_content.py).
        expect(page.locator("#transcript article.assistant strong")).to_have_text("bold")
        assert "**" not in last_answer(page)
        expect(page.locator("#status")).to_have_text("Answering…")

        expect(page.locator("#status")).to_have_text("Done.")
        expect(page.locator("#transcript article.assistant strong")).to_have_text("bold")
        expect(page.locator("#transcript article.assistant code")).to_have_text("code")
        assert "**" not in last_answer(page)
        assert "<img src=x onerror=alert(1)>" in last_answer(page)  # the model's markup: as text
        assert page.locator("#transcript img").count() == 0
        time.sleep(0.3)
        assert dialogs == []


def test_a_dropped_connection_resumes_the_same_answer(page: Page) -> None:
    deltas = [f" part{i}" for i in range(12)]
    provider = ScriptedProvider(Script(deltas, delay_seconds=0.15))
    with llmrelay(provider, detach_grace_seconds=5) as url:
        port = urlsplit(url).port
        assert port is not None
        with StreamCutter(port, cut_after=4) as proxy:
            page.goto(proxy.url)
            streams = requests_to(page, lambda m, path: path == "/api/chat" or path.endswith("/events"))
            ask(page, "Count for me.")

            expect(page.locator("#status")).to_have_text("Done.", timeout=15_000)
            assert proxy.cut.is_set()
            # Every word once, in order: the reconnect resumed where the cut left off.
            assert last_answer(page).strip() == "".join(deltas).strip()
            assert len(provider.requests) == 1
            assert [urlsplit(r.url).path.rsplit("/", 1)[-1] for r in streams] == ["chat", "events"]
            assert streams[1].headers.get("last-event-id", "").startswith("msg_")
            expect(page.locator("#error")).to_be_hidden()


def test_a_connection_that_stays_down_is_given_up_on(page: Page) -> None:
    deltas = [f" part{i}" for i in range(40)]
    provider = ScriptedProvider(Script(deltas, delay_seconds=0.15))
    with llmrelay(provider, detach_grace_seconds=2) as url:
        port = urlsplit(url).port
        assert port is not None
        with StreamCutter(port, cut_after=3, refuse_after_cut=True) as proxy:
            page.goto(proxy.url)
            streams = requests_to(page, lambda m, path: path == "/api/chat" or path.endswith("/events"))
            ask(page, "Count for me.")

            expect(page.get_by_role("alert")).to_have_text(
                "The connection to the server was lost; gave up after 3 tries.", timeout=15_000
            )
            expect(page.locator("#status")).to_have_text("The answer is incomplete.")
            expect_form_enabled(page)
            assert last_answer(page) != ""
            assert len(streams) == 1 + 3
            assert proxy.refused >= 3
            assert len(provider.requests) == 1  # the retries resumed; none asked the model again
            # Nobody came back within the grace period: the server stopped generating.
            wait_until(lambda: provider.cancelled == 1, timeout=5, what="the generation to stop")


@pytest.mark.model
def test_the_embedded_model_answers_in_the_page(page: Page) -> None:
    app = create_app(make_settings(provider="local", max_output_tokens=48))
    with serve(app) as url:
        page.goto(url)
        ask(page, "Say hello in one short sentence.")

        expect(page.locator("#status")).to_have_text("Done.", timeout=120_000)
        assert last_answer(page).strip() != ""
        expect(page.locator("#error")).to_be_hidden()
        expect_form_enabled(page)
        conversation_id = open_conversation_id(page)
        assert conversation_id is not None
        answer = stored_conversation(url, conversation_id)["messages"][-1]
        assert answer["status"] == "complete" and answer["content"].strip() != ""
