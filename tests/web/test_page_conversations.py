"""The chat page's conversations, in a real browser: turns that share a history, a reload (after
an answer, and in the middle of one), the list, New chat, rename and delete.

As in test_page.py: a real llmrelay with a fresh SQLite file on a free port, a ScriptedProvider
that sets the timing and records what the model was asked, Debian's chromium through Playwright.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.support.browser import (
    answers,
    ask,
    dialogs_of,
    expect_form_busy,
    expect_form_enabled,
    last_answer,
    listed_titles,
    llmrelay,
    open_conversation_id,
    questions,
    requests_to,
    stored_conversation,
)
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser


def words(count: int) -> list[str]:
    return [f" w{i}" for i in range(count)]


def answered(page: Page, timeout: float = 10_000) -> None:
    expect(page.locator("#status")).to_have_text("Done.", timeout=timeout)
    expect_form_enabled(page)


def test_two_turns_in_one_conversation_send_the_history(page: Page) -> None:
    provider = ScriptedProvider(Script(["Nice", " to meet", " you."]))
    with llmrelay(provider) as url:
        page.goto(url)
        ask(page, "My name is Ada.")
        answered(page)
        first_id = open_conversation_id(page)
        ask(page, "What is my name?")
        answered(page)

        assert open_conversation_id(page) == first_id  # the same conversation, still in the URL
        assert questions(page) == ["My name is Ada.", "What is my name?"]
        assert [a.strip() for a in answers(page)] == ["Nice to meet you.", "Nice to meet you."]
        assert listed_titles(page) == ["My name is Ada."]

    assert len(provider.requests) == 2
    assert [(m.role, m.content) for m in provider.requests[-1].messages] == [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you."),
        ("user", "What is my name?"),
    ]


def test_history_survives_a_reload(page: Page) -> None:
    provider = ScriptedProvider(Script(["The **answer**", " is", " 42."]))
    with llmrelay(provider) as url:
        page.goto(url)
        ask(page, "What is the answer?")
        answered(page)
        ask(page, "Are you sure?")
        answered(page)
        conversation_id = open_conversation_id(page)

        page.reload()
        expect(page.locator("#transcript article")).to_have_count(4)
        assert open_conversation_id(page) == conversation_id
        assert questions(page) == ["What is the answer?", "Are you sure?"]
        assert [a.strip() for a in answers(page)] == ["The answer is 42."] * 2
        expect(page.locator("#transcript strong")).to_have_count(2)  # rendered, as before the reload
        expect(page.locator("#conversationTitle")).to_have_text("What is the answer?")
        expect(page.locator("#conversationList a[aria-current=page]")).to_have_text("What is the answer?")
        expect_form_enabled(page)

        # The same page opened afresh from its address (a bookmark, a new tab) shows the same.
        fresh = page.context.new_page()
        fresh.goto(f"{url}/?c={conversation_id}")
        expect(fresh.locator("#transcript article")).to_have_count(4)
        assert questions(fresh) == questions(page)
        assert len(provider.requests) == 2


def test_a_reload_mid_answer_continues_it(page: Page) -> None:
    deltas = words(20)
    whole = "".join(deltas).strip()
    provider = ScriptedProvider(Script(deltas, delay_seconds=0.15))
    with llmrelay(provider, detach_grace_seconds=5) as url:
        page.goto(url)
        ask(page, "Count slowly.")
        wait_until(lambda: len(last_answer(page).split()) >= 3, what="a few words")
        conversation_id = open_conversation_id(page)
        assert conversation_id is not None

        attaches = requests_to(page, lambda method, path: path.endswith("/events"))
        page.reload()
        # The answer picks up where it is (not from an empty page): it is still being written.
        wait_until(lambda: len(last_answer(page).split()) >= 5, what="the answer to go on after the reload")
        assert last_answer(page).strip() != whole
        expect_form_busy(page)
        expect(page.locator("#status")).to_have_text("Answering…")

        answered(page)
        assert open_conversation_id(page) == conversation_id
        assert questions(page) == ["Count slowly."]
        assert [a.strip() for a in answers(page)] == [whole]  # the whole answer, once
        transcript = page.eval_on_selector("#transcript", "el => el.textContent")
        assert re.findall(r"w\d+", transcript) == [f"w{i}" for i in range(20)]  # none lost, none twice
        assert len(attaches) == 1 and attaches[0].headers.get("last-event-id") is None
        stored = stored_conversation(url, conversation_id)["messages"][-1]
        assert (stored["status"], stored["content"].strip()) == ("complete", whole)
    assert len(provider.requests) == 1  # asked once: the reload attached to the same answer
    assert provider.cancelled == 0


def test_an_answer_left_for_another_conversation_goes_on(page: Page) -> None:
    deltas = words(16)
    provider = ScriptedProvider(Script(deltas, delay_seconds=0.15))
    # No grace period: were the page to let go of the answer, the server would stop it at once.
    with llmrelay(provider, detach_grace_seconds=0) as url:
        page.goto(url)
        ask(page, "Count for me.")
        wait_until(lambda: last_answer(page) != "", what="the first words")
        page.get_by_role("button", name="New chat").click()
        expect(page.locator("#transcript article")).to_have_count(0)
        expect_form_enabled(page)
        assert open_conversation_id(page) is None

        page.get_by_role("link", name="Count for me.").click()
        answered(page)
        assert [a.strip() for a in answers(page)] == ["".join(deltas).strip()]
    assert (len(provider.requests), provider.cancelled) == (1, 0)


def test_the_list_shows_new_conversations_and_new_chat_starts_a_fresh_one(page: Page) -> None:
    provider = ScriptedProvider(Script(["Sure."]))
    with llmrelay(provider) as url:
        page.goto(url)
        expect(page.locator("#listNote")).to_have_text("No conversations yet.")
        ask(page, "First question")
        answered(page)
        first_id = open_conversation_id(page)
        expect(page.locator("#conversationList a")).to_have_text(["First question"])

        page.get_by_role("button", name="New chat").click()
        expect(page.locator("#conversationTitle")).to_have_text("New chat")
        expect(page.locator("#transcript article")).to_have_count(0)
        assert open_conversation_id(page) is None
        expect(page.locator("#input")).to_be_focused()
        ask(page, "Second question")
        answered(page)
        second_id = open_conversation_id(page)
        assert second_id not in (None, first_id)
        expect(page.locator("#conversationList a")).to_have_text(["Second question", "First question"])
        assert questions(page) == ["Second question"]  # a fresh conversation: nothing of the first
        assert [m.content for m in provider.requests[-1].messages] == ["Second question"]

        shown_questions = page.locator("#transcript article.user .body")
        page.get_by_role("link", name="First question").click()
        expect(page.locator("#conversationTitle")).to_have_text("First question")
        expect(shown_questions).to_have_text(["First question"])
        assert open_conversation_id(page) == first_id
        page.go_back()  # the address bar's history follows the conversations opened
        expect(page.locator("#conversationTitle")).to_have_text("Second question")
        expect(shown_questions).to_have_text(["Second question"])


def test_delete_removes_a_conversation(page: Page) -> None:
    provider = ScriptedProvider(Script(["Fine."]))
    with llmrelay(provider) as url:
        page.goto(url)
        for question in ("Keep me", "Delete me"):
            page.get_by_role("button", name="New chat").click()
            ask(page, question)
            answered(page)
        doomed = open_conversation_id(page)
        dialogs = dialogs_of(page, accept=True)
        page.get_by_role("button", name="Delete this conversation").click()

        expect(page.locator("#conversationList a")).to_have_text(["Keep me"])
        expect(page.locator("#transcript article")).to_have_count(0)
        expect(page.locator("#conversationTitle")).to_have_text("New chat")
        assert open_conversation_id(page) is None
        assert dialogs == ["Delete “Delete me” and all its messages? This cannot be undone."]
        assert httpx.get(f"{url}/api/conversations/{doomed}").status_code == 404

        page.goto(f"{url}/?c={doomed}")  # an old link to it
        expect(page.get_by_role("alert")).to_have_text(f"No conversation with id {doomed!r}.")
        assert open_conversation_id(page) is None
        expect_form_enabled(page)


def test_rename_a_conversation(page: Page) -> None:
    provider = ScriptedProvider(Script(["Hi."]))
    with llmrelay(provider) as url:
        page.goto(url)
        ask(page, "hello there")
        answered(page)
        conversation_id = open_conversation_id(page)
        assert conversation_id is not None

        page.get_by_role("button", name="Rename this conversation").click()
        field = page.get_by_label("Conversation title")
        expect(field).to_have_value("hello there")
        field.fill("Greetings <b>& more</b>")
        field.press("Enter")

        expect(page.locator("#conversationTitle")).to_have_text("Greetings <b>& more</b>")
        expect(page.locator("#conversationList a")).to_have_text(["Greetings <b>& more</b>"])
        assert page.locator("#conversationList b, #conversationTitle b").count() == 0
        assert stored_conversation(url, conversation_id)["title"] == "Greetings <b>& more</b>"

        # Esc leaves the title as it was.
        page.get_by_role("button", name="Rename this conversation").click()
        page.get_by_label("Conversation title").fill("Never mind")
        page.get_by_label("Conversation title").press("Escape")
        expect(page.locator("#conversationTitle")).to_have_text("Greetings <b>& more</b>")
        expect(page.get_by_role("button", name="Rename this conversation")).to_be_focused()
        assert stored_conversation(url, conversation_id)["title"] == "Greetings <b>& more</b>"
