"""The chat page at `/`, driven in a real browser (Debian's chromium through Playwright).

Each test serves a real llmrelay on a free port; a ScriptedProvider sets the timing, so "while it
streams" is a real window, and tells how often the model was asked and whether it was stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Request, expect, sync_playwright

from llmrelay.app import create_app
from llmrelay.providers.base import ProviderError
from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.browser import CHROMIUM, CHROMIUM_ARGS, StreamCutter, wait_until
from tests.conftest import make_settings, skip_or_fail
from tests.servers import serve

pytestmark = pytest.mark.browser

STORY = ["Once", " upon a time,", "\nthere was", "  a fox 🦊", " who", " liked", " streams", "."]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@contextmanager
def llmrelay(provider: ScriptedProvider, **settings: object) -> Iterator[str]:
    with serve(create_app(make_settings(**settings), provider=provider)) as url:
        yield url


def stream_requests(page: Page) -> list[Request]:
    """Every request the page makes to /chat-stream, as it makes them."""
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r) if urlsplit(r.url).path == "/chat-stream" else None)
    return seen


def output_text(page: Page) -> str:
    # textContent, exactly: Playwright's text assertions would normalize the whitespace.
    text: str = page.eval_on_selector("#output", "el => el.textContent")
    return text


def ask(page: Page, prompt: str) -> None:
    page.fill("#input", prompt)
    page.click("#submitButton")


def expect_form_enabled(page: Page) -> None:
    expect(page.locator("#input")).to_be_enabled()
    expect(page.locator("#submitButton")).to_be_enabled()
    expect(page.locator("#stopButton")).to_be_disabled()


def test_the_answer_grows_while_it_streams_and_the_form_waits(page: Page) -> None:
    provider = ScriptedProvider(Script(STORY, delay_seconds=0.3))
    whole = "".join(STORY)
    with llmrelay(provider) as url:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        expect(page.get_by_label("What is your prompt?")).to_be_visible()
        prompt = "Tell me a story\nabout a fox 🦊"
        ask(page, prompt)

        wait_until(lambda: output_text(page) != "", what="the first words")
        partway = output_text(page)
        assert whole.startswith(partway) and partway != whole
        assert page.locator("#input").is_disabled()
        assert page.locator("#submitButton").is_disabled()
        assert page.locator("#stopButton").is_enabled()
        expect(page.locator("#status")).to_have_text("Answering…")

        wait_until(lambda: output_text(page) == whole, what="the whole answer")
        expect(page.locator("#status")).to_have_text("Done.")
        expect_form_enabled(page)
        expect(page.locator("#error")).to_be_hidden()

    assert [r.messages[-1].content for r in provider.requests] == [prompt]
    # The page, its script and its style all come from llmrelay itself: no CDN, no network.
    assert requests and all(u.startswith(url + "/") for u in requests), requests


def test_stop_ends_the_stream_and_the_generation(page: Page) -> None:
    deltas = [f" word{i}" for i in range(60)]
    provider = ScriptedProvider(Script(deltas, delay_seconds=0.15))
    with llmrelay(provider, detach_grace_seconds=0) as url:
        page.goto(url)
        ask(page, "Talk for a long time.")
        wait_until(lambda: len(output_text(page)) > len(" word0 word1"), what="a few words")
        page.get_by_role("button", name="Stop").click()

        expect(page.locator("#status")).to_have_text("Stopped.")
        expect_form_enabled(page)
        wait_until(lambda: provider.cancelled == 1, what="the server to cancel the generation")
        stopped_at = output_text(page)
        time.sleep(0.5)
        assert output_text(page) == stopped_at  # nothing more arrives
        assert stopped_at != "".join(deltas)
        assert len(provider.requests) == 1
        expect(page.locator("#error")).to_be_hidden()


def test_stop_before_the_first_word_cancels_the_generation(page: Page) -> None:
    provider = ScriptedProvider(Script(["Too", " late"], delay_seconds=5))
    with llmrelay(provider, detach_grace_seconds=0) as url:
        page.goto(url)
        ask(page, "Think hard first.")
        expect(page.locator("#status")).to_have_text("Waiting for the model…")
        wait_until(lambda: provider.active == 1, what="the generation to start")
        page.keyboard.press("Escape")  # Esc stops, as the hint says

        expect(page.locator("#status")).to_have_text("Stopped.")
        expect_form_enabled(page)
        wait_until(lambda: provider.cancelled == 1, what="the server to cancel the generation")
        assert output_text(page) == ""
        expect(page.locator("#error")).to_be_hidden()


def test_an_error_after_the_start_is_shown_and_not_retried(page: Page) -> None:
    error = ProviderError("The model provider failed halfway through.")
    provider = ScriptedProvider(Script(["Half", " an answer", " never", " seen"], 0.1, error, fail_after=2))
    with llmrelay(provider) as url:
        page.goto(url)
        streams = stream_requests(page)
        ask(page, "Try your best.")

        expect(page.get_by_role("alert")).to_have_text("The model provider failed halfway through.")
        expect_form_enabled(page)
        assert output_text(page) == "Half an answer"
        time.sleep(2.5)  # longer than the server's `retry:`, so a reconnect would have happened
        assert len(provider.requests) == 1
        assert len(streams) == 1


@pytest.mark.parametrize(
    ("prompt", "script", "shown", "asked"),
    [
        pytest.param(
            "Hello?",
            Script(["never"], error=ProviderError("The model provider is down.", status=502)),
            "The model provider is down.",
            1,
            id="upstream-502",
        ),
        pytest.param(
            "   ", Script(["never"]), "message must not be empty or only whitespace.", 0, id="blank-422"
        ),
        pytest.param(
            "x" * 41,
            Script(["never"]),
            "message is 41 characters; the limit is 40 (LLMRELAY_MAX_MESSAGE_CHARS).",
            0,
            id="too-long-413",
        ),
    ],
)
def test_an_error_before_the_start_shows_the_servers_detail(
    page: Page, prompt: str, script: Script, shown: str, asked: int
) -> None:
    provider = ScriptedProvider(script)
    with llmrelay(provider, max_message_chars=40) as url:
        page.goto(url)
        streams = stream_requests(page)
        ask(page, prompt)

        expect(page.get_by_role("alert")).to_have_text(shown)
        expect_form_enabled(page)
        assert output_text(page) == ""
        time.sleep(1.5)  # no second request comes to explain the first
        assert len(provider.requests) == asked
        assert len(streams) == 1


def test_an_unreachable_server_is_said_so_once(page: Page) -> None:
    provider = ScriptedProvider(Script(["never"]))
    with llmrelay(provider) as url:
        page.goto(url)
        tries = []
        page.route("**/chat-stream", lambda route: (tries.append(route.request.url), route.abort()))
        ask(page, "Hello?")

        expect(page.get_by_role("alert")).to_have_text("The server cannot be reached. Is llmrelay running?")
        expect_form_enabled(page)
        time.sleep(1.5)
        assert len(tries) == 1
        assert provider.requests == []


def test_markup_in_the_answer_is_shown_as_text(page: Page) -> None:
    reply = ["<script>alert(1)</script>", "<b>bold</b>", "<img src=x onerror=alert(2)>"]
    provider = ScriptedProvider(Script(reply))
    dialogs: list[str] = []
    with llmrelay(provider) as url:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.fill("#input", "Show me some HTML.")
        page.press("#input", "Enter")  # Enter sends, as the hint says

        expect(page.locator("#status")).to_have_text("Done.")
        assert output_text(page) == "".join(reply)
        expect(page.locator("#output")).to_contain_text("<b>bold</b>")
        for tag in ("b", "script", "img"):
            assert page.locator(f"#output {tag}").count() == 0
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
            streams = stream_requests(page)
            ask(page, "Count for me.")

            expect(page.locator("#status")).to_have_text("Done.", timeout=15_000)
            assert proxy.cut.is_set()
            # Every word once, in order: the reconnect resumed where the cut left off.
            assert output_text(page) == "".join(deltas)
            assert len(provider.requests) == 1
            assert len(streams) == 2
            assert streams[1].headers.get("last-event-id", "").startswith("gen_")
            expect(page.locator("#error")).to_be_hidden()


def test_a_connection_that_stays_down_is_given_up_on(page: Page) -> None:
    deltas = [f" part{i}" for i in range(40)]
    provider = ScriptedProvider(Script(deltas, delay_seconds=0.15))
    with llmrelay(provider, detach_grace_seconds=2) as url:
        port = urlsplit(url).port
        assert port is not None
        with StreamCutter(port, cut_after=3, refuse_after_cut=True) as proxy:
            page.goto(proxy.url)
            streams = stream_requests(page)
            ask(page, "Count for me.")

            expect(page.get_by_role("alert")).to_have_text(
                "The connection to the server was lost; gave up after 3 tries.", timeout=15_000
            )
            expect_form_enabled(page)
            assert output_text(page) != ""
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
        assert output_text(page).strip() != ""
        expect(page.locator("#error")).to_be_hidden()
        expect_form_enabled(page)
