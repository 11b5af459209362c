"""Log probabilities as the Responses API shows them, and the `include` values that ask for
them (or for nothing llmrelay could leave out).

Two shapes, as OpenAI's: the events (`response.output_text.delta` / `.done`) give each token's
`token`, `logprob` and `top_logprobs` (token and logprob each); the `output_text` content part
(the whole response, `GET /v1/responses/{id}`) gives its `bytes` too, alternatives included.
A token's `bytes` are the model's where it gave them (a token may be part of a character),
else its text's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmrelay.api.openai.errors import OpenAIError
from llmrelay.api.openai.params import refuse
from llmrelay.providers.base import TokenLogprob
from llmrelay.providers.openai_sdk.shapes import RESPONSES_LOGPROBS

# The `include` value that asks for the answer's log probabilities (the `openai` backend sends
# the same one upstream).
LOGPROBS = RESPONSES_LOGPROBS
# Values that add the outputs of OpenAI's built-in tools, which llmrelay refuses (function
# tools only), and the image URLs of input messages, which llmrelay never shows changed (it
# has no input-items listing, and keeps images as the URLs sent): accepting them withholds
# nothing, so a client that always sends them is not turned away.
_NOTHING_TO_LEAVE_OUT = frozenset(
    {
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "message.input_image.image_url",
    }
)
# Known to OpenAI, but what it asks for llmrelay cannot give: accepting it would be a lie.
_CANNOT = {
    "reasoning.encrypted_content": "llmrelay cannot return encrypted reasoning; "
    "send store=true and previous_response_id to continue a conversation.",
}


def check_include(include: Iterable[str]) -> OpenAIError | None:
    """A 400 naming `include` for a value llmrelay cannot honour or does not know."""
    for index, value in enumerate(include):
        if value == LOGPROBS or value in _NOTHING_TO_LEAVE_OUT:
            continue
        if value in _CANNOT:
            return refuse("include", f"{value!r} is not supported: {_CANNOT[value]}")
        known = ", ".join(repr(v) for v in sorted({LOGPROBS, *_NOTHING_TO_LEAVE_OUT}))
        return OpenAIError(
            400,
            f"Invalid value for 'include[{index}]': {value!r}. Supported values are: {known}.",
            param="include",
            code="invalid_value",
        )
    return None


def _raw(logprob: TokenLogprob) -> list[int]:
    return list(logprob.bytes) if logprob.bytes is not None else list(logprob.token.encode("utf-8"))


def event_logprobs(logprobs: Iterable[TokenLogprob]) -> list[dict[str, Any]]:
    """Tokens as `response.output_text.delta` / `.done` carry them (no bytes)."""
    return [
        {
            "token": lp.token,
            "logprob": lp.logprob,
            "top_logprobs": [{"token": top.token, "logprob": top.logprob} for top in lp.top],
        }
        for lp in logprobs
    ]


def content_logprobs(logprobs: Iterable[TokenLogprob]) -> list[dict[str, Any]]:
    """Tokens as an `output_text` content part carries them (with bytes, alternatives too)."""
    return [
        {
            "token": lp.token,
            "bytes": _raw(lp),
            "logprob": lp.logprob,
            "top_logprobs": [
                {"token": top.token, "bytes": _raw(top), "logprob": top.logprob} for top in lp.top
            ],
        }
        for lp in logprobs
    ]


def logprobs_of(content: Iterable[dict[str, Any]]) -> tuple[TokenLogprob, ...]:
    """`content_logprobs` read back (a kept response's)."""
    return tuple(
        TokenLogprob(
            str(item["token"]),
            float(item["logprob"]),
            tuple(item["bytes"]),
            tuple(
                TokenLogprob(str(top["token"]), float(top["logprob"]), tuple(top["bytes"]))
                for top in item.get("top_logprobs") or ()
            ),
        )
        for item in content
    )
