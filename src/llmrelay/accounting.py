"""Tokens a generation spent: computed once, when it ends, and read by everyone after.

The provider's own counts where it reported them; where it did not (a stream cancelled before
its usage event, a remote model that reports none), llmrelay's count of the prompt and the text
produced, marked `estimated`. A request the upstream refused outright spent nothing: None.

`input_tokens` is every token of the prompt, those the upstream read from or wrote to its
prompt cache included (`Usage`): a key's limits and budgets count all it sent, as the upstream
bills all of it (cached reads at a discount, cache writes at a premium).

Usage rows, metrics, the stored answer and every renderer read this one figure, so a client's
`usage`, the `/metrics` counters and `llmrelay keys usage` can never disagree.
"""

from __future__ import annotations

from dataclasses import replace

from llmrelay.providers.base import GenerationRequest, Provider, Usage


def prompt_tokens(provider: Provider, request: GenerationRequest) -> int:
    if request.prompt is not None:  # a raw completion: its text is the whole prompt
        return provider.count_tokens(request.prompt)
    return sum(provider.count_tokens(message.content) for message in request.messages)


def _with_cache_counts(usage: Usage, reported: Usage | None) -> Usage:
    """`usage` with the cache counts the provider reported (they are never estimated)."""
    if reported is None:
        return usage
    return replace(
        usage, cache_write_tokens=reported.cache_write_tokens, cache_read_tokens=reported.cache_read_tokens
    )


def _sum_known(counts: list[int | None]) -> int | None:
    """The sum of what was counted; None when nothing was."""
    known = [count for count in counts if count is not None]
    return sum(known) if known else None


def spent_tokens(
    provider: Provider, request: GenerationRequest, reported: Usage | None, text: str, failed: bool
) -> Usage | None:
    if reported is None and failed and not text:
        return None  # refused upstream: nothing spent
    given_in = reported.input_tokens if reported else None
    given_out = reported.output_tokens if reported else None
    if given_in is not None and given_out is not None:
        return _with_cache_counts(Usage(given_in, given_out), reported)
    # Counting a long prompt is not free: only for what the provider left out.
    input_tokens = prompt_tokens(provider, request) if given_in is None else given_in
    output_tokens = provider.count_tokens(text) if given_out is None else given_out
    return _with_cache_counts(Usage(input_tokens, output_tokens, estimated=True), reported)


def token_pair(usage: Usage | None) -> tuple[int, int]:
    """(input, output) for a wire format's usage object: 0 for what nobody counted."""
    if usage is None:
        return 0, 0
    return usage.input_tokens or 0, usage.output_tokens or 0


def summed(usages: list[Usage | None]) -> Usage | None:
    """The tokens of several answers to one request (n choices), as one figure: what each
    counted, added up; estimated if any part was. None when none of them spent anything."""
    spent = [usage for usage in usages if usage is not None]
    if not spent:
        return None
    return Usage(
        sum(usage.input_tokens or 0 for usage in spent),
        sum(usage.output_tokens or 0 for usage in spent),
        estimated=any(usage.estimated for usage in spent),
        cache_write_tokens=_sum_known([usage.cache_write_tokens for usage in spent]),
        cache_read_tokens=_sum_known([usage.cache_read_tokens for usage in spent]),
    )
