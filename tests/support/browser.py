"""Helpers for the real-browser tests: launching Debian's chromium, reading the chat page as a
person sees it, and a proxy that cuts event streams (to see the page resume a dropped
answer, or give up on it)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Browser, Dialog, Page, Request, Route, expect, sync_playwright

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from tests.support.servers import serve
from tests.support.settings import make_settings, skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, never a downloaded one; and nothing in the background that talks to the
# internet (the machines that run these tests have none).
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# ---- What the tests' fixtures are made of ----


def launch_browser() -> Iterator[Browser]:
    """Debian's chromium; missing, it skips the test (and fails it on CI)."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser: Browser, *, clipboard: bool = False) -> Iterator[Page]:
    """A page in a context of its own: no cookies, cache or storage shared between tests; with
    `clipboard`, allowed to write to the clipboard and to read it back (what a test of Copy needs)."""
    permissions = ["clipboard-read", "clipboard-write"] if clipboard else []
    context = browser.new_context(viewport={"width": 1100, "height": 720}, permissions=permissions)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@contextmanager
def llmrelay(provider: ScriptedProvider, **settings: object) -> Iterator[str]:
    """A real llmrelay answering with `provider`, on a free port, with a fresh SQLite file."""
    with serve(create_app(make_settings(**settings), provider=provider)) as url:
        yield url


# ---- The chat page, as a person sees it ----


def ask(page: Page, message: str) -> None:
    page.fill("#input", message)
    page.click("#submitButton")


# An element's text without the page's own controls in it (a code block's Copy button).
_TEXT_WITHOUT_BUTTONS = """nodes => nodes.map(n => {
    const copy = n.cloneNode(true);
    for (const button of copy.querySelectorAll("button")) button.remove();
    return copy.textContent;
})"""


def answers(page: Page) -> list[str]:
    """The text of each answer in the transcript, exactly (Playwright's text assertions would
    normalize whitespace). An answer is rendered markdown: its text has no `**`."""
    texts: list[str] = page.eval_on_selector_all("#transcript article.assistant .body", _TEXT_WITHOUT_BUTTONS)
    return texts


def last_answer(page: Page) -> str:
    shown = answers(page)
    return shown[-1] if shown else ""


def questions(page: Page) -> list[str]:
    texts: list[str] = page.eval_on_selector_all(
        "#transcript article.user .body", "nodes => nodes.map(n => n.textContent)"
    )
    return texts


def listed_titles(page: Page) -> list[str]:
    return page.locator("#conversationList a").all_text_contents()


def open_conversation_id(page: Page) -> str | None:
    """The conversation the page's URL names (`/?c=conv_…`)."""
    return parse_qs(urlsplit(page.url).query).get("c", [None])[0]


def expect_form_enabled(page: Page) -> None:
    expect(page.locator("#input")).to_be_enabled()
    expect(page.locator("#submitButton")).to_be_enabled()
    expect(page.locator("#stopButton")).to_be_disabled()


def expect_form_busy(page: Page) -> None:
    expect(page.locator("#input")).to_be_disabled()
    expect(page.locator("#submitButton")).to_be_disabled()
    expect(page.locator("#stopButton")).to_be_enabled()


def requests_to(page: Page, wanted: Callable[[str, str], bool]) -> list[Request]:
    """The requests the page makes from now on for which wanted(method, path) holds."""
    seen: list[Request] = []

    def record(request: Request) -> None:
        if wanted(request.method, urlsplit(request.url).path):
            seen.append(request)

    page.on("request", record)
    return seen


def dialogs_of(page: Page, *, accept: bool) -> list[str]:
    """The messages of the dialogs (alert, confirm…) the page opens from now on, each accepted
    or dismissed. Markup in a model's answer that ran would show up here as alert(…)."""
    seen: list[str] = []

    def answer(dialog: Dialog) -> None:
        seen.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    return seen


def stored_conversation(base_url: str, conversation_id: str, key: str | None = None) -> dict[str, Any]:
    """The conversation as the server keeps it (GET /api/conversations/{id}), with `key` if given."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(f"{base_url}/api/conversations/{conversation_id}", headers=headers, timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def refuse_requests(page: Page, pattern: str) -> list[str]:
    """Fail the page's requests to `pattern` as an unreachable server would; returns their URLs."""
    tries: list[str] = []

    def abort(route: Route) -> None:
        tries.append(route.request.url)
        route.abort()

    page.route(pattern, abort)
    return tries


class StreamCutter:
    """A TCP proxy in front of a server. It cuts the first event stream that passes through it
    after `cut_after` events (a connection dropped mid-answer), and with `refuse_after_cut` it
    answers no request after that: it closes the connection instead, a new one or one the
    browser kept open (the server looks unreachable). `refused` counts those closes."""

    def __init__(self, target_port: int, *, cut_after: int = 3, refuse_after_cut: bool = False) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.refuse_after_cut = refuse_after_cut
        self.cut = threading.Event()
        self.refused = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self._listener.settimeout(0.1)
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> StreamCutter:
        self._acceptor.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            _shutdown(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._refusing():
                _shutdown(client)
                client.close()
                continue
            thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        with self._lock:
            self._sockets.update((client, upstream))
        forward = threading.Thread(target=self._pump_forth, args=(client, upstream), daemon=True)
        forward.start()
        try:
            self._pump_back(upstream, client)
        finally:
            _shutdown(client)
            _shutdown(upstream)
            forward.join(timeout=5)
            with self._lock:
                self._sockets.difference_update((client, upstream))
            client.close()
            upstream.close()

    def _refusing(self) -> bool:
        if self.refuse_after_cut and self.cut.is_set():
            with self._lock:
                self.refused += 1
            return True
        return False

    def _pump_forth(self, client: socket.socket, upstream: socket.socket) -> None:
        """Browser to server; once refusing, a request closes its connection instead."""
        while True:
            try:
                chunk = client.recv(65536)
                if not chunk or self._refusing():
                    break
                upstream.sendall(chunk)
            except OSError:
                break
        _shutdown(client)
        _shutdown(upstream)

    def _pump_back(self, upstream: socket.socket, client: socket.socket) -> None:
        """Server to browser; counts the events of an event stream and cuts the first one."""
        events = -1  # not an event stream (yet)
        while True:
            try:
                chunk = upstream.recv(65536)
                if not chunk:
                    return
                client.sendall(chunk)
            except OSError:
                return
            if events < 0 and b"\r\ncontent-type: text/event-stream" in chunk.lower():
                events = 0
            if events >= 0:
                # An event ends with a blank line; chunked framing adds only CRLFs, never "\n\n".
                events += chunk.count(b"\n\n")
                if events >= self.cut_after and not self.cut.is_set():
                    self.cut.set()
                    return


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
