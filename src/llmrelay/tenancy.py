"""Which tenant a running generation belongs to, and finding one only for its owner.

The store scopes conversations, messages and responses by owner itself; generations live in
memory (`StreamRegistry`), so their owner travels in their `Identity`, and every route that
takes a generation's id (attach, resume, cancel) finds it through `owned_generation`: another
tenant's generation is not there, exactly as one that never existed.
"""

from __future__ import annotations

from llmrelay.store import Owner
from llmrelay.streams import Generation, GenerationHandle, StreamRegistry


def owned_generation(streams: StreamRegistry, generation_id: str, owner: Owner) -> Generation | None:
    generation = streams.get(generation_id)
    if generation is None or generation.identity.owner != owner:
        return None
    return generation


async def find_owned(
    streams: StreamRegistry, generation_id: str, owner: Owner, epoch: str | None = None
) -> GenerationHandle | None:
    """`owned_generation` on any process (with LLMRELAY_REDIS_URL, one another process runs);
    with `epoch` (from a client's event id), only that instance of its log."""
    generation = await streams.find(generation_id, epoch)
    if generation is None or generation.identity.owner != owner:
        return None
    return generation
