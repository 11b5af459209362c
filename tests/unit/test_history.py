"""Fitting history into a context: oldest turns go first, no message is ever cut."""

from __future__ import annotations

import pytest

from llmrelay.history import PER_MESSAGE_OVERHEAD, HistoryTooLong, fit_history, prompt_budget
from llmrelay.providers.base import ChatMessage


def words(text: str) -> int:
    return len(text.split())


def turn(i: int) -> list[ChatMessage]:
    return [
        ChatMessage("user", f"question {i} " + "q " * 10),
        ChatMessage("assistant", f"answer {i} " + "a " * 10),
    ]


def cost(message: ChatMessage) -> int:
    return words(message.content) + PER_MESSAGE_OVERHEAD


def test_everything_fits_nothing_changes() -> None:
    history = [*turn(1), *turn(2), ChatMessage("user", "now?")]
    assert fit_history(history, words, 10_000) == history


def test_no_budget_means_no_trimming() -> None:
    history = [*turn(1), ChatMessage("user", "now?")]
    assert fit_history(history, words, None) == history


def test_oldest_turns_go_first_and_messages_stay_whole() -> None:
    system = ChatMessage("system", "Be brief.")
    history = [system, *turn(1), *turn(2), *turn(3), ChatMessage("user", "now?")]
    budget = cost(system) + sum(cost(m) for m in [*turn(3), history[-1]]) + 5
    fitted = fit_history(history, words, budget)
    assert fitted == [system, *turn(3), history[-1]]
    originals = {m.content for m in history}
    assert all(m.content in originals for m in fitted)


def test_never_starts_on_an_orphaned_answer() -> None:
    history = [*turn(1), *turn(2), ChatMessage("user", "now?")]
    budget = sum(cost(m) for m in [history[3], history[4]]) + 1  # room for answer 2 + the question
    fitted = fit_history(history, words, budget)
    assert fitted == [history[4]]


def test_a_message_too_long_on_its_own_is_refused() -> None:
    with pytest.raises(HistoryTooLong) as raised:
        fit_history([ChatMessage("user", "w " * 500)], words, 100)
    assert raised.value.status == 413


def test_prompt_budget_keeps_room_for_the_answer() -> None:
    assert prompt_budget(2048, 512) == 1536
    assert prompt_budget(1000, 5000) == 250
    assert prompt_budget(None, 512) is None
