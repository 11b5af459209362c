"""llmrelay.stops: stop sequences found in streamed text, however the deltas split them."""

from __future__ import annotations

import pytest

from llmrelay.stops import StopMatcher


def run(stops: list[str], deltas: list[str]) -> tuple[list[str], str | None]:
    """What a client would be sent for these deltas (each piece as passed on), and the match."""
    matcher = StopMatcher(stops)
    sent = [passed for delta in deltas if (passed := matcher.feed(delta))]
    if matcher.matched is None and (held := matcher.flush()):
        sent.append(held)
    return sent, matcher.matched


def test_text_before_a_stop_sequence_is_passed_on_and_the_rest_dropped() -> None:
    assert run(["END"], ["Hello ", "world END and more", " after"]) == (["Hello ", "world "], "END")


def test_a_stop_sequence_split_across_deltas_is_found_and_never_shown() -> None:
    sent, matched = run(["\n\nHuman:"], ["Sure.", "\n", "\nHu", "man: next"])
    assert (sent, matched) == (["Sure."], "\n\nHuman:")


def test_a_held_start_that_turns_out_not_to_be_a_stop_is_passed_on() -> None:
    # "\n" could start "\n\n"; the next delta says it did not: nothing is lost or reordered.
    sent, matched = run(["\n\n"], ["one\n", "two\n", "three"])
    assert "".join(sent) == "one\ntwo\nthree" and matched is None
    assert sent[0] == "one"  # the "\n" waited for the next delta


def test_text_that_ends_on_the_start_of_a_stop_sequence_keeps_it() -> None:
    assert run(["STOP"], ["nearly ST"]) == (["nearly ", "ST"], None)


@pytest.mark.parametrize(
    ("stops", "deltas", "expected"),
    [
        # The earliest complete match wins, whichever sequence it is.
        (["world", "lo"], ["Hello world"], (["Hel"], "lo")),
        (["b", "abc"], ["xabc"], (["x"], "abc")),
        # A match at the very start leaves nothing to send.
        (["Hi"], ["Hi there"], ([], "Hi")),
        # Unicode is matched as text, not bytes.
        (["ü"], ["Grü", "ße"], (["Gr"], "ü")),
    ],
)
def test_which_sequence_matches(
    stops: list[str], deltas: list[str], expected: tuple[list[str], str | None]
) -> None:
    assert run(stops, deltas) == expected


def test_without_stops_or_with_empty_ones_text_passes_as_it_comes() -> None:
    for stops in ([], [""]):
        matcher = StopMatcher(stops)
        assert not matcher
        assert [matcher.feed(d) for d in ("a\n", "\n", "b")] == ["a\n", "\n", "b"]
        assert matcher.matched is None


def test_after_a_match_nothing_more_passes() -> None:
    matcher = StopMatcher(["x"])
    assert matcher.feed("abxcd") == "ab"
    assert matcher.feed("more") == "" and matcher.flush() == "" and matcher.matched == "x"
