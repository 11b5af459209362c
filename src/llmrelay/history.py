"""Fitting a conversation into a model's context: drop the oldest turns, never cut a message.

A message is either sent whole or not at all: a half message would put words in someone's
mouth. System messages at the start are kept (they set the rules); then the newest messages
that fit, back to front. The newest message must fit on its own, or the request is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmrelay.providers.base import ChatMessage, ProviderError

# What a chat template adds around each message (role markers, separators), in tokens.
PER_MESSAGE_OVERHEAD = 8


class HistoryTooLong(ProviderError):
    status = 413
    kind = "context_length_exceeded"


def fit_history(
    messages: Sequence[ChatMessage],
    count_tokens: Callable[[str], int],
    budget_tokens: int | None,
) -> list[ChatMessage]:
    """The longest suffix of `messages` (plus leading system messages) within `budget_tokens`."""
    if budget_tokens is None or not messages:
        return list(messages)
    system: list[ChatMessage] = []
    for message in messages:
        if message.role != "system":
            break
        system.append(message)
    rest = list(messages[len(system) :])

    def cost(message: ChatMessage) -> int:
        return count_tokens(message.content) + PER_MESSAGE_OVERHEAD

    remaining = budget_tokens - sum(cost(m) for m in system)
    kept: list[ChatMessage] = []
    for message in reversed(rest):
        remaining -= cost(message)
        if remaining < 0:
            break
        kept.append(message)
    if rest and not kept:
        raise HistoryTooLong(
            f"The message takes about {cost(rest[-1])} tokens; this model can take {budget_tokens} "
            "for the prompt.",
        )
    kept.reverse()
    # Start on a user turn: a reply with its question trimmed away means nothing to the model.
    while kept and kept[0].role == "assistant" and len(kept) > 1:
        kept.pop(0)
    return system + kept


def prompt_budget(context_tokens: int | None, max_output_tokens: int) -> int | None:
    """Tokens left for the prompt once the answer's room is kept free; None = no known limit."""
    if context_tokens is None:
        return None
    # Keep room for the answer, but never less than a quarter of the context for the prompt.
    return max(context_tokens - max_output_tokens, context_tokens // 4)
