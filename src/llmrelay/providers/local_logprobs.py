"""Log probabilities from the embedded model: each picked token scored as the answer streams.

Why not llama-cpp-python's own `logprobs`: it needs a context that keeps every position's
logits (`logits_all=True`: a second context, a float per vocabulary entry per position, and
the output layer run for every prompt token), and it streams such an answer one token per
chunk, each decoded alone with the bytes of a split character dropped — so asking for logprobs
changed the text (CJK, emoji lost). Instead, `TokenScorer` is given to the ordinary streamed
completion as its `logits_processor`: llama.cpp calls it before each pick with the tokens so
far and the raw logits of the next position, and it returns them unchanged. From there:
- the log-softmax of the logits is that position's distribution; the token picked from it is
  the last of the tokens the next call sees, so each pick is known one step later;
- its string is its share of the text (an incremental UTF-8 decode of the picked tokens'
  bytes: a token that ends inside a character is "", the one that completes it carries it), its
  `bytes` the token's own, so the tokens of an answer, joined, are its text exactly;
- text is handed on only with the tokens that make it up (`feed`), so every delta's text is its
  tokens joined; the last pick, which no later call reveals (the answer stopped at its length),
  is found at the end (`finish`) among the likeliest tokens of the last distribution.
The scores are the model's (before temperature, penalties or a grammar), as OpenAI's are.
Everything here runs in the decoding thread, inside llama's own loop.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING, Any

from llmrelay.providers.base import TokenLogprob

if TYPE_CHECKING:
    import numpy as np

# How many of the last distribution's likeliest tokens are searched for the last pick.
_LAST_PICK_SEARCH = 64


class TokenScorer:
    def __init__(self, llama: Any, alternatives: int) -> None:
        # Imported here: numpy comes with llama-cpp-python, and only a request for logprobs
        # needs it (this module is imported at start-up, whatever the provider).
        import numpy

        self._np = numpy
        self._detokenize = llama.detokenize
        self._tokenize = llama.tokenize
        self._alternatives = alternatives
        # len(input_ids) at the first call (the prompt): later calls each see one pick more.
        self._start: int | None = None
        # The latest position's log-probabilities; the token picked from it is not known yet.
        self._latest: np.ndarray | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        # Picked tokens not yet handed on with text: (their share of the text, the score).
        self._picked: list[tuple[str, TokenLogprob]] = []
        # Text llama streamed that is not yet handed on (waiting for its tokens).
        self._text = ""
        # All the text llama streamed, and the bytes of every token picked: what the last pick
        # is, at the end, is what they differ by.
        self._streamed = ""
        self._picked_bytes = bytearray()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        count = len(input_ids)
        if self._start is None:
            self._start = count
        elif self._latest is not None and count > self._start:
            self._pick(int(input_ids[count - 1]), self._latest)
        np = self._np
        logits = np.asarray(scores, dtype=np.float64)
        top = logits.max()
        self._latest = logits - (top + np.log(np.exp(logits - top).sum()))
        return scores

    def _pick(self, token: int, logprobs: np.ndarray) -> None:
        raw = bytes(self._detokenize([token]))
        self._picked_bytes += raw
        self._picked.append((self._decoder.decode(raw), self._score(token, raw, logprobs)))

    def _score(self, token: int, raw: bytes, logprobs: np.ndarray) -> TokenLogprob:
        top: tuple[TokenLogprob, ...] = ()
        if self._alternatives:
            likeliest = self._np.argpartition(logprobs, -self._alternatives)[-self._alternatives :]
            ranked = sorted(likeliest.tolist(), key=lambda i: -logprobs[i])
            top = tuple(self._named(int(i), float(logprobs[i])) for i in ranked)
        return TokenLogprob("", float(logprobs[token]), tuple(raw), top)

    def _named(self, token: int, logprob: float) -> TokenLogprob:
        raw = bytes(self._detokenize([token]))
        return TokenLogprob(raw.decode("utf-8", errors="replace"), logprob, tuple(raw))

    def feed(self, text: str) -> tuple[str, tuple[TokenLogprob, ...]] | None:
        """Text llama streamed: what of the text so far its picked tokens make up, with them
        (None until some does)."""
        self._text += text
        self._streamed += text
        return self._hand_on(final=False)

    def finish(self) -> tuple[str, tuple[TokenLogprob, ...]] | None:
        """The end of the answer: the rest of the text with its tokens (those past a stop
        sequence left out, the last pick found)."""
        streamed = self._streamed.encode("utf-8")
        rest = streamed[len(self._picked_bytes) :]
        if rest and self._latest is not None and streamed.startswith(self._picked_bytes):
            token = self._last_pick(rest)
            if token is not None:
                self._pick(token, self._latest)
        self._latest = None
        return self._hand_on(final=True)

    def _last_pick(self, raw: bytes) -> int | None:
        """The token picked last, from its text: among the likeliest of its distribution (a
        pick is almost always there), else the tokenizer's reading of it."""
        assert self._latest is not None
        count = min(_LAST_PICK_SEARCH, len(self._latest))
        for token in self._np.argpartition(self._latest, -count)[-count:].tolist():
            if bytes(self._detokenize([int(token)])) == raw:
                return int(token)
        tokens = self._tokenize(raw, add_bos=False, special=False)
        return int(tokens[0]) if len(tokens) == 1 else None

    def _hand_on(self, *, final: bool) -> tuple[str, tuple[TokenLogprob, ...]] | None:
        taken: list[TokenLogprob] = []
        length = 0
        while self._picked:
            share, score = self._picked[0]
            raw = score.bytes
            if length + len(share) > len(self._text):
                if not final:
                    break  # its text has not come yet
                share, raw = self._text[length:], None  # cut by a stop sequence: what was shown
                if not share:
                    self._picked.clear()
                    break
            self._picked.pop(0)
            taken.append(TokenLogprob(share, score.logprob, raw, score.top))
            length += len(share)
        if final:
            length = len(self._text)  # any text no token was found for goes out as it is
        if not length and not taken:
            return None
        text, self._text = self._text[:length], self._text[length:]
        return text, tuple(taken)


class TokenQueue:
    """Scored tokens waiting for their text to be passed on, when something between the model
    and the client holds text back (a stop sequence's possible start: `stops.StopMatcher`).

    Text is passed on as a prefix of the tokens' text; a token goes with the text that
    completes it, so the tokens passed on, joined, are always the text passed on so far plus at
    most the start of one token, which `cut` ends (the text stopped inside it)."""

    def __init__(self) -> None:
        self._tokens: list[TokenLogprob] = []
        # Characters passed on that the tokens handed out so far do not cover.
        self._credit = 0

    def pass_on(self, tokens: tuple[TokenLogprob, ...], text: str) -> tuple[TokenLogprob, ...]:
        """`tokens` came (with their text); `text` is passed on: the tokens it completes."""
        self._tokens += tokens
        self._credit += len(text)
        out = []
        while self._tokens and len(self._tokens[0].token) <= self._credit:
            token = self._tokens.pop(0)
            self._credit -= len(token.token)
            out.append(token)
        return tuple(out)

    def cut(self) -> tuple[TokenLogprob, ...]:
        """The text ended: the token it ended inside, cut to what was passed on of it."""
        out: tuple[TokenLogprob, ...] = ()
        if self._credit and self._tokens:
            token = self._tokens[0]
            out = (TokenLogprob(token.token[: self._credit], token.logprob, None, token.top),)
        self._tokens.clear()
        self._credit = 0
        return out
