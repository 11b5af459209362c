"""The fixtures of the real-browser tests: one chromium per module, a fresh page per test (one
allowed to use the clipboard: `clipboard_page`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import launch_browser, new_page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from new_page(browser)


@pytest.fixture
def clipboard_page(browser: Browser) -> Iterator[Page]:
    yield from new_page(browser, clipboard=True)
