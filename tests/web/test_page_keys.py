"""The chat page on a server with API keys in force, in a real browser: the key form, a wrong key,
the right one, a reload, "Forget key", and that the key only ever travels in a header. Also: the
model failing before a new chat's answer starts opens the conversation the server stored.

As in test_page.py: a real llmrelay (LLMRELAY_API_KEYS through make_settings) with a fresh
SQLite file on a free port, a ScriptedProvider, Debian's chromium through Playwright.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect

from llmrelay.providers.base import ProviderError
from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.support.browser import (
    answers,
    ask,
    expect_form_enabled,
    listed_titles,
    llmrelay,
    open_conversation_id,
    questions,
    requests_to,
    stored_conversation,
)

pytestmark = pytest.mark.browser

KEY = "sk-test-3f9a1c7e5b2d4068"
STORAGE_NAME = "llmrelay.apiKey"
MISSING = "Missing API key: send it as 'Authorization: Bearer <key>'."
INCORRECT = "Incorrect API key provided."


@dataclass
class Traffic:
    """Everything the page sends and logs, to look for the key where it must never be."""

    requests: list[Request] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def api_requests(self) -> list[Request]:
        return [r for r in self.requests if urlsplit(r.url).path.startswith("/api/")]

    def assert_key_only_in_headers(self, key: str) -> None:
        assert self.requests
        for request in self.requests:
            assert key not in unquote(request.url), request.url
            assert key not in (request.post_data or ""), request.url
        assert not any(key in text for text in self.console), self.console
        assert self.errors == []  # and the page's script never failed


def watch(page: Page) -> Traffic:
    traffic = Traffic()
    page.on("request", lambda request: traffic.requests.append(request))
    page.on("console", lambda message: traffic.console.append(_console_text(message)))
    page.on("pageerror", lambda error: traffic.errors.append(str(error)))
    return traffic


def _console_text(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text} {message.location.get('url', '')}"


def saved_key(page: Page) -> str | None:
    key: str | None = page.evaluate(f"localStorage.getItem({STORAGE_NAME!r})")
    return key


def expect_key_form(page: Page, detail: str) -> None:
    form = page.locator("#keyForm")
    expect(form).to_be_visible()
    expect(page.locator("#keyDetail")).to_have_text(detail)
    expect(page.get_by_label("API key")).to_have_attribute("type", "password")
    expect(form.get_by_role("button", name="Save")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()  # the form tells it, not the page's alert


def save_key(page: Page, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.locator("#keyForm").get_by_role("button", name="Save").click()


def chat_with_key(url: str, message: str) -> str:
    """Starts a conversation over the API, as another client would; returns its id."""
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.stream("POST", f"{url}/api/chat", json={"message": message}, headers=headers) as response:
        assert response.status_code == 200
        response.read()
    listed = httpx.get(f"{url}/api/conversations", headers=headers).json()
    conversation_id: str = listed[0]["id"]
    return conversation_id


def test_an_open_server_never_shows_the_key_form(page: Page) -> None:
    provider = ScriptedProvider(Script(["Open", " house."]))
    with llmrelay(provider) as url:
        traffic = watch(page)
        page.goto(url)
        ask(page, "Anyone there?")
        expect(page.locator("#status")).to_have_text("Done.")
        expect(page.locator("#conversationList a")).to_have_text(["Anyone there?"])
        page.reload()
        expect(page.locator("#transcript article")).to_have_count(2)

        expect(page.locator("#keyPanel")).to_be_hidden()
        expect(page.get_by_label("API key")).to_be_hidden()
        assert saved_key(page) is None
        assert traffic.api_requests()
        assert all("authorization" not in r.all_headers() for r in traffic.api_requests())
        assert traffic.errors == []
    assert len(provider.requests) == 1


def test_the_right_key_lets_the_list_load_and_a_prompt_be_answered(page: Page) -> None:
    provider = ScriptedProvider(Script(["Keyed", " answer."]))
    with llmrelay(provider, api_keys=KEY) as url:
        chat_with_key(url, "Asked before")  # something for the list to show
        traffic = watch(page)
        page.goto(url)
        expect_key_form(page, MISSING)
        expect(page.get_by_label("API key")).to_be_focused()
        expect(page.locator("#keyNoteText")).to_contain_text("localStorage")
        expect(page.get_by_role("button", name="Forget key")).to_be_hidden()  # nothing saved yet
        expect(page.locator("#listNote")).to_have_text(
            "The conversations are listed once the API key is saved."
        )
        assert listed_titles(page) == []

        # A message sent without the key: refused, kept in the box, the model never asked.
        ask(page, "Hello with a key?")
        expect(page.locator("#keyDetail")).to_have_text(MISSING)
        expect_form_enabled(page)
        expect(page.locator("#input")).to_have_value("Hello with a key?")
        assert questions(page) == [] and answers(page) == []

        posts = requests_to(page, lambda method, path: method == "POST" and path == "/api/chat")
        save_key(page, KEY)
        expect(page.locator("#keyForm")).to_be_hidden()
        expect(page.locator("#conversationList a")).to_have_text(["Asked before"])
        expect(page.locator("#listNote")).to_have_text("")
        expect(page.locator("#status")).to_have_text("Key saved: send your message again.")
        expect(page.locator("#input")).to_be_focused()
        expect(page.locator("#input")).to_have_value("Hello with a key?")
        time.sleep(1)
        assert posts == [] and len(provider.requests) == 1  # not sent again by itself

        page.click("#submitButton")
        expect(page.locator("#status")).to_have_text("Done.")
        assert [a.strip() for a in answers(page)] == ["Keyed answer."]
        expect(page.locator("#conversationList a")).to_have_text(["Hello with a key?", "Asked before"])
        assert saved_key(page) == KEY
        expect(page.locator("#keyNoteText")).to_have_text(
            "An API key is saved in this browser (localStorage)."
        )

        # Every API request after the key was saved carried it, in the header and nowhere else.
        sent = traffic.api_requests()
        with_key = [r for r in sent if r.all_headers().get("authorization") == f"Bearer {KEY}"]
        assert len(posts) == 1 and posts[0] in with_key
        assert len(with_key) >= 3  # the list, the message, the stored answer read at its end
        traffic.assert_key_only_in_headers(KEY)
    assert [r.messages[-1].content for r in provider.requests] == ["Asked before", "Hello with a key?"]


def test_a_wrong_key_shows_the_servers_detail(page: Page) -> None:
    provider = ScriptedProvider(Script(["Fine."]))
    with llmrelay(provider, api_keys=KEY) as url:
        traffic = watch(page)
        page.goto(url)
        expect_key_form(page, MISSING)
        save_key(page, "sk-test-wrong")
        expect_key_form(page, INCORRECT)
        # Saved all the same: a reload asks with it, and the server says the same.
        page.reload()
        expect_key_form(page, INCORRECT)
        expect(page.get_by_role("button", name="Forget key")).to_be_visible()

        save_key(page, KEY)
        expect(page.locator("#keyForm")).to_be_hidden()
        expect(page.locator("#listNote")).to_have_text("No conversations yet.")
        assert saved_key(page) == KEY
        traffic.assert_key_only_in_headers("sk-test-wrong")
        traffic.assert_key_only_in_headers(KEY)

        # What the form showed is the server's answer: every request with the wrong key reached
        # it and was refused with 401, and those with the right key were let through.
        def statuses(key: str) -> list[int]:
            sent = [
                r for r in traffic.api_requests() if r.all_headers().get("authorization") == f"Bearer {key}"
            ]
            answered = [r.response() for r in sent]
            return [response.status for response in answered if response is not None]

        assert len(statuses("sk-test-wrong")) >= 2  # the save, then the reload
        assert set(statuses("sk-test-wrong")) == {401}
        assert statuses(KEY) and set(statuses(KEY)) == {200}


def test_a_key_with_spaces_is_refused_by_the_form(page: Page) -> None:
    with llmrelay(ScriptedProvider(Script(["x"])), api_keys=KEY) as url:
        page.goto(url)
        expect_key_form(page, MISSING)
        save_key(page, "sk test")
        expect(page.locator("#keyDetail")).to_have_text(
            "An API key has no spaces and only ASCII letters, digits and symbols."
        )
        assert saved_key(page) is None


def test_the_key_survives_a_reload_and_forget_key_clears_it(page: Page) -> None:
    provider = ScriptedProvider(Script(["Remembered."]))
    with llmrelay(provider, api_keys=KEY) as url:
        conversation_id = chat_with_key(url, "Open me later")
        traffic = watch(page)
        # A link to a conversation, without the key: the form, then Save opens the conversation.
        page.goto(f"{url}/?c={conversation_id}")
        expect_key_form(page, MISSING)
        assert open_conversation_id(page) == conversation_id
        expect(page.get_by_role("button", name="Rename this conversation")).to_be_hidden()
        save_key(page, KEY)
        expect(page.locator("#conversationTitle")).to_have_text("Open me later")
        assert questions(page) == ["Open me later"]
        assert [a.strip() for a in answers(page)] == ["Remembered."]

        page.reload()
        expect(page.locator("#transcript article")).to_have_count(2)
        expect(page.locator("#conversationList a")).to_have_text(["Open me later"])
        expect(page.locator("#keyForm")).to_be_hidden()
        expect(page.locator("#keyNoteText")).to_have_text(
            "An API key is saved in this browser (localStorage)."
        )
        fresh = page.context.new_page()  # another tab of the same browser has it too
        fresh.goto(url)
        expect(fresh.locator("#conversationList a")).to_have_text(["Open me later"])
        expect(fresh.locator("#keyForm")).to_be_hidden()
        fresh.close()

        page.get_by_role("button", name="Forget key").click()
        assert saved_key(page) is None
        expect_key_form(page, MISSING)  # the server wants one: the form is back at once
        expect(page.get_by_role("button", name="Forget key")).to_be_hidden()
        # What the key unlocked leaves the screen with it.
        expect(page.locator("#transcript article")).to_have_count(0)
        expect(page.locator("#conversationList a")).to_have_count(0)
        expect(page.locator("#conversationTitle")).to_have_text("New chat")
        page.reload()
        expect_key_form(page, MISSING)
        assert listed_titles(page) == []
        traffic.assert_key_only_in_headers(KEY)
    assert len(provider.requests) == 1


def test_forget_key_on_an_open_server_just_forgets_it(page: Page) -> None:
    with llmrelay(ScriptedProvider(Script(["x"]))) as url:
        page.goto(url)
        page.evaluate(f"localStorage.setItem({STORAGE_NAME!r}, 'sk-left-over')")
        page.reload()
        expect(page.locator("#listNote")).to_have_text("No conversations yet.")
        expect(page.locator("#keyForm")).to_be_hidden()
        page.get_by_role("button", name="Forget key").click()
        expect(page.locator("#keyPanel")).to_be_hidden()
        assert saved_key(page) is None
        expect(page.locator("#listNote")).to_have_text("No conversations yet.")


def test_a_failure_before_a_new_chats_answer_opens_the_stored_conversation(page: Page) -> None:
    down = Script(["never"], error=ProviderError("The model provider is down.", status=502))
    provider = ScriptedProvider(down)
    with llmrelay(provider) as url:
        page.goto(url)
        posts = requests_to(page, lambda method, path: method == "POST" and path == "/api/chat")
        ask(page, "Hello?")

        expect(page.get_by_role("alert")).to_have_text("The model provider is down.")
        expect(page).to_have_url(re.compile(r"/\?c=conv_"))  # (page.url only moves while Playwright waits)
        conversation_id = open_conversation_id(page)
        expect(page.locator("#conversationTitle")).to_have_text("Hello?")
        expect(page.locator("#conversationList a[aria-current=page]")).to_have_text("Hello?")
        assert questions(page) == ["Hello?"]
        expect(page.locator("#transcript .note")).to_have_text(
            "This answer failed: The model provider is down."
        )
        expect(page.locator("#status")).to_have_text("The answer failed before it started.")
        expect_form_enabled(page)
        expect(page.locator("#input")).to_have_value("Hello?")  # to send again, if wanted
        assert conversation_id is not None
        stored = stored_conversation(url, conversation_id)["messages"]
        assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "error")]
        shown_ids = page.eval_on_selector_all("#transcript article", "nodes => nodes.map(n => n.dataset.id)")
        assert shown_ids == [m["id"] for m in stored]
        time.sleep(1.5)  # nothing asks the model again
        assert len(posts) == 1 and len(provider.requests) == 1

        # Sent again once the model is back: the same conversation goes on.
        provider.script = Script(["Back", " again."])
        page.click("#submitButton")
        expect(page.locator("#status")).to_have_text("Done.")
        assert open_conversation_id(page) == conversation_id
        assert questions(page) == ["Hello?", "Hello?"]
        expect(page.locator("#transcript .note").first).to_have_text(
            "This answer failed: The model provider is down."
        )
        assert answers(page)[-1].strip() == "Back again."
        expect(page.locator("#conversationList a")).to_have_text(["Hello?"])

        page.reload()  # what the page showed is what was stored
        expect(page.locator("#transcript article")).to_have_count(4)
        expect(page.locator("#transcript .note").first).to_have_text(
            "This answer failed: The model provider is down."
        )
    assert len(provider.requests) == 2
