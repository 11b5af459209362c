"""The request body of /v1/completions (legacy text completion), and what of it is refused.

Editors' autocompletion still speaks this API: a raw `prompt` continued as it is, no chat
template. llmrelay continues one prompt per request (a string, or a list of one string), `n`
times if asked; the rest of what OpenAI knows but llmrelay cannot honour is a 400 naming the
parameter. `echo` is honoured (the prompt is put before the answer), and `logprobs` where the
provider gives them.
"""

from __future__ import annotations

from pydantic import Field

from llmrelay.api.openai.errors import OpenAIError
from llmrelay.api.openai.params import MAX_CHOICES, StreamOptions, Strict, Temperature, TopP, refuse

# OpenAI's default for this endpoint, much shorter than Chat's: a completion is a few words.
DEFAULT_MAX_TOKENS = 16


class CompletionRequest(Strict):
    model: str = Field(min_length=1)
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(DEFAULT_MAX_TOKENS, ge=1)
    temperature: float | None = Temperature
    top_p: float | None = TopP
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    echo: bool | None = False
    # Passed to the provider; refused where it cannot honour them (`params.beyond_provider`).
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    # Accepted and ignored: it changes nothing about the answer's text.
    user: str | None = None
    # Log probabilities with this many alternatives per token; refused where the provider
    # cannot give them (`params.beyond_provider`).
    logprobs: int | None = Field(None, ge=0, le=5)
    # Completions of the prompt, each its own generation (pipeline.start_choices).
    n: int | None = Field(None, ge=1)
    # Known to OpenAI, refused by `unsupported_completion()` unless neutral.
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1)
    logit_bias: dict[str, float] | None = None


def unsupported_completion(body: CompletionRequest) -> OpenAIError | None:
    """The first parameter this server cannot honour, as a 400; None when all is well."""
    if body.n is not None and body.n > MAX_CHOICES:
        return OpenAIError(
            400,
            f"n: at most {MAX_CHOICES} completions per request (each is its own generation); got {body.n}.",
            param="n",
            code="integer_above_max_value",
        )
    if body.best_of is not None and body.best_of > 1:
        return refuse("best_of", "only best_of=1 is supported (each completion is returned; use n).")
    if body.suffix:
        return refuse("suffix", "insertion (text after the completion, fill-in-the-middle) is not supported.")
    if body.logit_bias:
        return refuse("logit_bias", "logit_bias is not supported.")
    if body.stream_options is not None and not body.stream:
        return OpenAIError(400, "stream_options is only allowed when stream is true.", param="stream_options")
    stops = [body.stop] if isinstance(body.stop, str) else body.stop or []
    if len(stops) > 4:
        return OpenAIError(400, "stop: at most 4 stop sequences.", param="stop")
    return None


def prompt_of(body: CompletionRequest, max_chars: int) -> str:
    """The one prompt of the request, as text; anything else is a 400 naming `prompt`."""
    given = body.prompt
    if isinstance(given, list):
        texts = [item for item in given if isinstance(item, str)]
        if len(texts) < len(given):
            raise refuse("prompt", "give the prompt as text; token arrays are not supported.")
        if len(texts) != 1:
            raise refuse("prompt", f"one prompt per request (a string or a list of one), not {len(texts)}.")
        given = texts[0]
    if len(given) > max_chars:
        raise OpenAIError(
            400,
            f"prompt is {len(given)} characters; the limit is {max_chars}.",
            param="prompt",
            code="string_above_max_length",
        )
    return given
