"""The chat page beyond one model and plain text, in a real browser (Debian's chromium through
Playwright): the model picker, images attached (file picker and paste), tool calls shown
collapsed, markdown rendered while the answer streams, copy buttons, regenerate.

Real llmrelay servers on free ports with fresh SQLite files; the scripted model sets the timing,
and the OpenAI stand-in (tests/support/fake_openai.py) records what an upstream that sees gets.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from llmrelay.app import create_app
from llmrelay.providers.scripted import Script, ScriptedProvider
from tests.support.browser import (
    answers,
    ask,
    dialogs_of,
    expect_form_enabled,
    last_answer,
    llmrelay,
    open_conversation_id,
    requests_to,
    stored_conversation,
)
from tests.support.fake_openai import FakeOpenAI, FakeToolCall
from tests.support.fake_openai import Script as FakeScript
from tests.support.models_files import seeing_and_blind, write_models_file
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import serve_relay
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser


def png(red: int, green: int, blue: int) -> bytes:
    """A real 1×1 PNG of one colour (so the thumbnails are images a browser can draw)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, red, green, blue]))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def data_url(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode()


def chat_posts(page: Page) -> list[Request]:
    return requests_to(page, lambda method, path: method == "POST" and path == "/api/chat")


def answered(page: Page, timeout: float = 10_000) -> None:
    expect(page.locator("#status")).to_have_text("Done.", timeout=timeout)
    expect_form_enabled(page)


def serve_models(tmp_path: Path, toml: str) -> Any:
    return serve(create_app(make_settings(models_file=write_models_file(tmp_path, toml))))


TWO_SCRIPTED = """
[[models]]
name = "fast"
provider = "scripted"
reply = "I am fast."

[[models]]
name = "slow"
provider = "scripted"
reply = "I am slow, but I get there."
"""


# -- the model picker --------------------------------------------------------------------------


def test_the_model_picker_sends_the_choice_and_each_conversation_keeps_its_own(
    page: Page, tmp_path: Path
) -> None:
    with serve_models(tmp_path, TWO_SCRIPTED) as url:
        page.goto(url)
        picker = page.get_by_label("Model")
        expect(picker).to_be_visible()
        expect(picker).to_have_value("fast")  # the default: the file's first entry
        assert picker.locator("option").all_text_contents() == ["fast", "slow"]
        posts = chat_posts(page)

        picker.select_option("slow")
        ask(page, "Who are you?")
        answered(page)
        assert json.loads(posts[-1].post_data or "")["model"] == "slow"
        assert last_answer(page).strip() == "I am slow, but I get there."
        expect(page.locator("#transcript article.assistant .author")).to_have_text("slow")
        slow_chat = open_conversation_id(page)
        assert slow_chat is not None

        page.reload()
        expect(page.get_by_label("Model")).to_have_value("slow")  # the conversation's model, again

        # Another conversation, on the other model.
        page.get_by_role("button", name="New chat").click()
        page.get_by_label("Model").select_option("fast")
        ask(page, "And you?")
        answered(page)
        fast_chat = open_conversation_id(page)
        assert last_answer(page).strip() == "I am fast."

        # Opening each selects its model, and a message goes to it without touching the picker.
        page.get_by_role("link", name="Who are you?").click()
        expect(page.get_by_label("Model")).to_have_value("slow")
        ask(page, "Still slow?")
        answered(page)
        assert json.loads(posts[-1].post_data or "")["model"] == "slow"
        page.get_by_role("link", name="And you?").click()
        expect(page.get_by_label("Model")).to_have_value("fast")
        assert open_conversation_id(page) == fast_chat
        assert stored_conversation(url, slow_chat)["model"] == "slow"


def test_with_one_model_there_is_no_picker(page: Page) -> None:
    with llmrelay(ScriptedProvider.replying("Only me.")) as url:
        page.goto(url)
        posts = chat_posts(page)
        ask(page, "hi")
        answered(page)
        expect(page.locator("#modelPicker")).to_be_hidden()
        assert "model" not in json.loads(posts[0].post_data or "")
        # The scripted model cannot see: nothing to attach with.
        expect(page.locator("#attachButton")).to_be_hidden()


# -- images ------------------------------------------------------------------------------------

PASTE_IMAGE = """([b64]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], "pasted.png", { type: "image/png" }));
    const input = document.getElementById("input");
    input.focus();
    input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}"""


def test_an_attached_image_reaches_the_upstream_as_an_image_part(
    page: Page, tmp_path: Path, fake: FakeOpenAI, fake_url: str
) -> None:
    chosen, pasted = png(255, 0, 0), png(0, 0, 255)
    with serve_models(tmp_path, seeing_and_blind(fake_url)) as url:
        page.goto(url)
        attach = page.get_by_role("button", name="Attach image")
        expect(page.get_by_label("Model")).to_have_value("blind")
        expect(attach).to_be_hidden()  # this model cannot see: nothing is offered
        page.get_by_label("Model").select_option("seeing")
        expect(attach).to_be_visible()

        page.set_input_files(
            "#imageInput", files=[{"name": "red.png", "mimeType": "image/png", "buffer": chosen}]
        )
        page.evaluate(PASTE_IMAGE, [base64.b64encode(pasted).decode()])
        tray = page.locator("#attachments img")
        expect(tray).to_have_count(2)
        page.fill("#input", "What colours are these?")
        page.click("#submitButton")
        answered(page)

        sent = fake.requests[-1].body["messages"][-1]
        assert sent["content"] == [
            {"type": "text", "text": "What colours are these?"},
            {"type": "image_url", "image_url": {"url": data_url(chosen)}},
            {"type": "image_url", "image_url": {"url": data_url(pasted)}},
        ]
        expect(tray).to_have_count(0)  # sent: the tray is empty again
        shown = page.locator("#transcript article.user img.thumbnail")
        expect(shown).to_have_count(2)
        assert [shown.nth(i).get_attribute("src") for i in range(2)] == [data_url(chosen), data_url(pasted)]
        assert shown.first.evaluate("img => img.naturalWidth") == 1  # a real image, drawn

        page.reload()  # kept with the conversation, shown again from the store
        expect(page.locator("#transcript article.user img.thumbnail")).to_have_count(2)
        conversation_id = open_conversation_id(page)
        assert conversation_id is not None
        assert stored_conversation(url, conversation_id)["messages"][0]["images"] == [
            data_url(chosen),
            data_url(pasted),
        ]

        # Back on the model that cannot see: no button, and the API says no on its own too.
        page.get_by_label("Model").select_option("blind")
        expect(attach).to_be_hidden()
        refused = httpx.post(
            f"{url}/api/chat", json={"message": "look", "model": "blind", "images": [data_url(chosen)]}
        )
        assert refused.status_code == 400
        assert refused.json() == {
            "detail": "The model 'blind' cannot see images; send text only, or choose a model that sees."
        }


# -- tool calls --------------------------------------------------------------------------------

ARGUMENTS = ['{"city": ', '"Paris", ', '"unit": "celsius"}']
PRETTY = '{\n  "city": "Paris",\n  "unit": "celsius"\n}'


def test_tool_calls_are_shown_collapsed_with_their_arguments_live_and_after_a_reload(
    page: Page, fake: FakeOpenAI, fake_url: str
) -> None:
    fake.script = FakeScript(
        deltas=["Let me check", " the weather."],
        delay_seconds=0.4,
        tool_calls=[FakeToolCall("call_w", "get_weather", ARGUMENTS)],
    )
    with serve_relay("openai-compatible", fake_url, model="gpt-4o-mini") as url:
        page.goto(url)
        ask(page, "Weather in Paris?")
        call = page.locator("#transcript article.assistant details.tool-call")
        expect(call).to_have_count(1)
        expect(call.locator("summary")).to_contain_text("get_weather")
        expect(page.locator("#status")).to_have_text("Answering…")  # shown live, mid-answer
        expect(call.locator("pre")).to_be_hidden()  # collapsed
        call.locator("summary").click()  # opened while it streams, it stays open as it grows
        wait_until(lambda: call.locator("pre").text_content() != "", what="the first arguments")
        partway = call.locator("pre").text_content() or ""
        assert "".join(ARGUMENTS).startswith(partway) and partway != "".join(ARGUMENTS)

        answered(page)
        expect(call.locator("pre")).to_be_visible()
        assert call.locator("pre").text_content() == PRETTY
        assert last_answer(page).strip() == "Let me check the weather."

        page.reload()
        call = page.locator("#transcript article.assistant details.tool-call")
        expect(call).to_have_count(1)
        expect(call.locator("summary")).to_contain_text("get_weather")
        expect(call.locator("pre")).to_be_hidden()
        call.locator("summary").click()
        assert call.locator("pre").text_content() == PRETTY


# -- markdown while it streams -----------------------------------------------------------------

MARKDOWN = [
    "Intro",
    " paragraph.\n\n",
    "- first",
    " item\n",
    "- second item\n\n",
    "```python\n",
    "print('<b>hi</b>')\n",
    "```\n\n",
    "<script>alert(1)</script>",
    " <img src=x onerror=alert(2)>",
    " done.",
]


def test_markdown_is_rendered_while_it_streams_without_redrawing_what_is_final(page: Page) -> None:
    provider = ScriptedProvider(Script(MARKDOWN, delay_seconds=0.5))
    with llmrelay(provider) as url:
        dialogs = dialogs_of(page, accept=False)
        page.goto(url)
        ask(page, "Format something.")
        answer = page.locator("#transcript article.assistant .body")
        status = page.locator("#status")

        expect(answer.locator("p").first).to_have_text("Intro paragraph.")
        # The person selects the first paragraph and the page marks its node (a JS property,
        # no change to the DOM): both must survive everything that follows.
        answer.locator("p").first.evaluate(
            """p => { p.keptNode = true;
                      const range = document.createRange(); range.selectNodeContents(p);
                      getSelection().removeAllRanges(); getSelection().addRange(range); }"""
        )
        expect(answer.locator("ul > li")).to_have_text(["first item", "second item"])
        expect(answer.locator("pre code")).to_have_text("print('<b>hi</b>')\n")
        expect(status).to_have_text("Answering…")  # all this while the answer is still streaming
        assert "- first" not in last_answer(page) and "```" not in last_answer(page)
        assert page.evaluate("getSelection().toString()") == "Intro paragraph."

        answered(page)
        expect(answer.locator("ul > li")).to_have_text(["first item", "second item"])
        expect(answer.locator("pre code")).to_have_text("print('<b>hi</b>')\n")
        assert answer.locator("p").first.evaluate("p => p.keptNode === true")  # never redrawn
        assert page.evaluate("getSelection().toString()") == "Intro paragraph."
        # Script and markup the model wrote are text, shown and never run.
        assert "<script>alert(1)</script> <img src=x onerror=alert(2)> done." in last_answer(page)
        assert page.locator("#transcript script, #transcript img, #transcript b").count() == 0
        time.sleep(0.3)
        assert dialogs == []
    assert len(provider.requests) == 1


# -- copy --------------------------------------------------------------------------------------


def test_copy_puts_the_answer_and_a_code_block_on_the_clipboard(clipboard_page: Page) -> None:
    page = clipboard_page
    reply = "Run **this**:\n\n```sh\necho 'hi there'\n```\n"
    with llmrelay(ScriptedProvider(Script([reply]))) as url:
        page.goto(url)
        ask(page, "How do I say hi?")
        answered(page)
        answer = page.locator("#transcript article.assistant")
        copy = answer.get_by_role("button", name="Copy", exact=True)
        copy.click()
        expect(answer.get_by_role("button", name="Copied", exact=True)).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == reply  # the markdown, as written

        answer.get_by_role("button", name="Copy code").click()
        expect(answer.locator(".code-block").get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == "echo 'hi there'\n"
        # "Copied" is a moment's note; then each button is itself again.
        expect(answer.get_by_role("button", name="Copy", exact=True)).to_be_visible(timeout=5_000)
        expect(answer.get_by_role("button", name="Copy code")).to_be_visible(timeout=5_000)
        expect(answer.locator(".body p")).to_have_text("Run this:")
        expect(answer.locator(".body pre")).to_have_text("echo 'hi there'\n")  # no button text in it


# -- regenerate --------------------------------------------------------------------------------


def test_regenerate_replaces_the_last_answer_with_a_new_one_from_the_same_history(page: Page) -> None:
    provider = ScriptedProvider.replying("First answer.")
    with llmrelay(provider) as url:
        page.goto(url)
        ask(page, "Say one thing.")
        answered(page)
        ask(page, "Say another thing.")
        answered(page)
        regenerate = page.get_by_role("button", name="Regenerate")
        expect(regenerate).to_have_count(1)  # on the last answer only
        last = page.locator("#transcript article.assistant").last
        expect(last.get_by_role("button", name="Regenerate")).to_be_visible()
        old_id = last.get_attribute("data-id")

        provider.script = Script(["A", " new", " answer."], delay_seconds=0.3)
        regenerate.click()
        expect(page.locator("#status")).to_have_text("Answering…")
        expect(regenerate).to_have_count(0)  # not while it is being written
        answered(page)
        assert [a.strip() for a in answers(page)] == ["First answer.", "A new answer."]
        new_id = page.locator("#transcript article.assistant").last.get_attribute("data-id")
        assert new_id not in (None, old_id)

        # The model was asked again, with exactly the history the replaced answer had.
        assert len(provider.requests) == 3
        assert provider.requests[2].messages == provider.requests[1].messages
        conversation_id = open_conversation_id(page)
        assert conversation_id is not None
        stored = stored_conversation(url, conversation_id)["messages"]
        assert [(m["role"], m["content"]) for m in stored] == [
            ("user", "Say one thing."),
            ("assistant", "First answer."),
            ("user", "Say another thing."),
            ("assistant", "A new answer."),
        ]
        assert stored[-1]["id"] == new_id

        page.reload()
        expect(page.locator("#transcript article.assistant")).to_have_count(2)
        assert [a.strip() for a in answers(page)] == ["First answer.", "A new answer."]
        expect(page.get_by_role("button", name="Regenerate")).to_have_count(1)
