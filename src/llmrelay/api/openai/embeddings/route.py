"""`POST /v1/embeddings`: vectors from a model that can embed (an `Embedder`), counted per key.

Not a generation (nothing streams, nothing to resume), so it does not go through the answer
pipeline; it does what the pipeline does for answers that matters here: the caller's limits
(admitted before, settled after), a failure in OpenAI's shape, the call stopped when the client
leaves, one usage row against the caller's key, and llmrelay's own time
(`X-Llmrelay-Overhead-Ms`) measured without the model's.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from llmrelay import overhead, quota
from llmrelay.api.deps import CallerDep, ModelsDep, RuntimeDep
from llmrelay.api.disconnect import ClientGone, unless_disconnected
from llmrelay.api.openai.embeddings.schema import EmbeddingRequestIn, inputs_of, response_body
from llmrelay.api.openai.errors import OpenAIError, from_failure
from llmrelay.api.openai.models import provider_for
from llmrelay.providers.base import Embedder, EmbeddingRequest, Embeddings, InvalidParameter, ProviderError
from llmrelay.store import UsageRow
from llmrelay.streams import Failure

ROUTE = "/v1/embeddings"
router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/embeddings", summary="Embeddings of one or several inputs")
async def embeddings(
    body: EmbeddingRequestIn, request: Request, models: ModelsDep, runtime: RuntimeDep, caller: CallerDep
) -> JSONResponse:
    provider = provider_for(models, body.model)
    if not isinstance(provider, Embedder):
        raise OpenAIError(
            400,
            f"The model '{body.model}' cannot embed (its provider, {provider.info.name}, has no embeddings).",
            param="model",
            code="model_not_supported",
        )
    inputs = inputs_of(body, runtime.settings.max_message_chars)

    def estimate() -> int:
        return sum(len(item) if isinstance(item, list) else provider.count_tokens(item) for item in inputs)

    permit = await quota.admit_input(runtime.pipeline.limiter, caller, estimate)
    result: Embeddings | None = None
    started = time.perf_counter()
    try:
        done, result = await unless_disconnected(
            request, provider.embed(EmbeddingRequest(inputs, dimensions=body.dimensions))
        )
    except InvalidParameter as exc:
        raise OpenAIError(400, exc.message, param=exc.param, code=exc.kind) from None
    except ProviderError as exc:
        raise from_failure(Failure(exc.message, exc.status, exc.kind)) from None
    finally:
        overhead.mark_upstream(request, started, time.perf_counter())
        if permit is not None:
            await permit.settle(result.prompt_tokens if result else 0, 0)
    if not done or result is None:
        raise ClientGone
    runtime.usage.add(
        UsageRow(
            api_key_id=caller.key_id,
            owner=caller.owner,
            route=ROUTE,
            model=body.model,
            input_tokens=result.prompt_tokens,
            output_tokens=0,
        )
    )
    return JSONResponse(response_body(body.model, result, body.encoding_format))
