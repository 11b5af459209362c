"""What the /v1 endpoints' request bodies share, and how a refusal is worded.

Unknown parameters are refused, as OpenAI refuses them. Parameters OpenAI knows but llmrelay
cannot honour are accepted by each endpoint's schema and refused by its `unsupported()` with a
400 naming the parameter: a client must learn it did not get what it asked for, instead of
getting something else quietly. Hints that change nothing about a text answer (user, seed,
metadata, service_tier…) are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmrelay.api.openai.errors import OpenAIError
from llmrelay.providers.base import ChatMessage, GenerationRequest, Provider, Role

# The 200 of an endpoint that answers JSON, or with stream=true, Server-Sent Events.
JSON_OR_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}, "text/event-stream": {}},
        "description": "The answer; with stream=true, Server-Sent Events as OpenAI sends them.",
    }
}

# The most answers one request may ask for (`n`): each is a generation of its own.
MAX_CHOICES = 8

Temperature = Field(None, ge=0, le=2, description="Sampling temperature, 0 to 2.")
TopP = Field(None, ge=0, le=1, description="Nucleus sampling, 0 to 1.")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageUrl(Strict):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(Strict):
    type: str = Field(
        description="'text' (or 'input_text' / 'output_text'), or 'image_url' / 'input_image' with an image."
    )
    text: str | None = None
    image_url: ImageUrl | str | None = None
    # OpenAI's parts carry these; accepted so a message read back from OpenAI can be sent again.
    annotations: list[Any] | None = None
    logprobs: list[Any] | None = None
    # Other part kinds (input_audio, file…) have more keys; they are refused by type.
    model_config = ConfigDict(extra="allow")


class StreamOptions(Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


def refuse(param: str, why: str) -> OpenAIError:
    return OpenAIError(400, f"{param}: {why}", param=param, code="unsupported_parameter")


def format_type(value: dict[str, Any] | None, key: str | None = None) -> str | None:
    """The `type` of a response format (chat: response_format; responses: text.format)."""
    if not value:
        return None
    inner = value.get(key) if key else value
    return inner.get("type") if isinstance(inner, dict) else None


def role(role: str) -> Role:
    # "developer" is OpenAI's newer name for what models see as the system message.
    return "system" if role == "developer" else role  # type: ignore[return-value]


TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
IMAGE_PARTS = frozenset({"image_url", "input_image"})


def content_of(
    content: str | list[TextPart], param: str, *, images_allowed: bool = True
) -> tuple[str, tuple[str, ...]]:
    """A message's text and its images (URLs or data URLs); any other part is a 400 naming it,
    and so is an image where the model cannot see (`images_allowed` false)."""
    if isinstance(content, str):
        return content, ()
    pieces: list[str] = []
    images: list[str] = []
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        if part.type in IMAGE_PARTS:
            if not images_allowed:
                raise refuse(
                    f"{where}.type",
                    "this model cannot see images; send text, or configure a model that sees.",
                )
            url = part.image_url.url if isinstance(part.image_url, ImageUrl) else part.image_url
            if not url:
                raise OpenAIError(
                    400, f"Missing required parameter: '{where}.image_url'.", param=f"{where}.image_url"
                )
            images.append(url)
            continue
        if part.type not in TEXT_PARTS:
            raise refuse(f"{where}.type", f"only text and image content is supported, not {part.type!r}.")
        if part.text is None:
            raise OpenAIError(400, f"Missing required parameter: '{where}.text'.", param=f"{where}.text")
        pieces.append(part.text)
    return "".join(pieces), tuple(images)


def text_of(content: str | list[TextPart], param: str) -> str:
    """A message's text; any part that is not text is a 400 naming it."""
    text, _ = content_of(content, param, images_allowed=False)
    return text


def check_length(messages: list[ChatMessage], max_chars: int, param: str) -> None:
    """Each message within LLMRELAY_MAX_MESSAGE_CHARS; the model's context is checked upstream."""
    for index, message in enumerate(messages):
        if len(message.content) > max_chars:
            raise OpenAIError(
                400,
                f"{param}[{index}] is {len(message.content)} characters; the limit is {max_chars}.",
                param=f"{param}[{index}]",
                code="string_above_max_length",
            )


# What a request may ask for beyond plain text, by the param a client set it with.
_OPTIONAL_PARAMS = (
    ("tools", "tools"),
    ("response_format", "response_format"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
    ("stop", "stop"),
    ("logprobs", "logprobs"),
)


def beyond_provider(
    provider: Provider, request: GenerationRequest, names: Mapping[str, str] | None = None
) -> OpenAIError | None:
    """A 400 naming what this request asks of a model that its provider cannot do (a parameter
    its API lacks): never silently dropped. (Images are checked where the content is read.)
    `names`: the surface's own name of a field where it is not Chat's (Responses asks for
    logprobs with `include`)."""
    cannot = provider.info.cannot
    for field, param in _OPTIONAL_PARAMS:
        if field in cannot and _asked(request, field):
            named = (names or {}).get(field, param)
            return refuse(named, f"the model's provider ({provider.info.name}) cannot honour it.")
    return None


def _asked(request: GenerationRequest, field: str) -> bool:
    value = getattr(request, field)
    if field == "logprobs":
        return value is not None  # logprobs with no alternatives is 0, and asked for
    return value not in (None, (), 0)
