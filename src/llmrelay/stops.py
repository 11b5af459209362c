"""Stop sequences found in streamed text, for providers that decode themselves.

llama.cpp stops on a stop string but does not say which one (nor whether it stopped on one or
on the end-of-turn token), and the scripted provider has no decoder at all; Anthropic's
Messages API reports the matched sequence (`stop_sequence`), so these providers find it here.

A stop sequence may arrive split across deltas ("\\n" then "\\n"): the tail of the text that
could still be the start of one is held back until the next delta says whether it was, so
nothing of a stop sequence ever reaches a client. What comes before the earliest complete
match is passed on; the match and anything after it are dropped, as every API does.
"""

from __future__ import annotations

from collections.abc import Iterable


class StopMatcher:
    def __init__(self, stops: Iterable[str]) -> None:
        # An empty string would match everywhere: no API means that by it.
        self._stops = tuple(stop for stop in stops if stop)
        self._held = ""
        # The stop sequence the text ended on, once it has.
        self.matched: str | None = None

    def __bool__(self) -> bool:
        """Whether there is anything to look for (a matcher without stops passes text as is)."""
        return bool(self._stops)

    def feed(self, text: str) -> str:
        """The text that can be passed on now that `text` came; "" once a stop matched."""
        if self.matched is not None:
            return ""
        if not self._stops:
            return text
        seen = self._held + text
        found = [(at, stop) for stop in self._stops if (at := seen.find(stop)) >= 0]
        if found:
            at, self.matched = min(found, key=lambda hit: hit[0])
            self._held = ""
            return seen[:at]
        keep = max((self._open_prefix(seen, stop) for stop in self._stops), default=0)
        self._held = seen[len(seen) - keep :] if keep else ""
        return seen[: len(seen) - keep]

    def flush(self) -> str:
        """What was held back, once the text has ended without completing a stop sequence."""
        held, self._held = self._held, ""
        return held

    @staticmethod
    def _open_prefix(text: str, stop: str) -> int:
        """The length of the longest end of `text` that is a start of `stop` (not all of it)."""
        for length in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:length]):
                return length
        return 0
