"""The OpenAI API at /v1, one module (or package) per endpoint.

Each endpoint keeps together its request schema (and what of it llmrelay refuses), its
renderer and its route; `errors` gives every error under /v1 OpenAI's body and status, so the
SDKs raise their matching exceptions.
"""

from fastapi import APIRouter

from llmrelay.api.openai import models
from llmrelay.api.openai.chat_completions import route as chat_completions
from llmrelay.api.openai.completions import route as completions
from llmrelay.api.openai.embeddings import route as embeddings
from llmrelay.api.openai.responses import background
from llmrelay.api.openai.responses import route as responses

# Each with its full /v1 prefix, so a route's own path is its whole template (metrics, auth).
routers: list[APIRouter] = [
    models.router,
    chat_completions.router,
    responses.router,
    background.router,
    completions.router,
    embeddings.router,
]
