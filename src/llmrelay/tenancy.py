"""Which tenant a running generation belongs to, and finding one only for its owner.

The store scopes conversations, messages and responses by owner itself; generations live in
memory (`StreamRegistry`) or, with LLMRELAY_REDIS_URL, in another process, so their owner travels
in their `Identity`, and every route that takes a generation's id (attach, resume, cancel)
finds it through `find_owned`: another tenant's generation is not there, exactly as one that
never existed.
"""

from __future__ import annotations

from llmrelay.store import Owner
from llmrelay.streams import GenerationHandle, StreamRegistry


async def find_owned(
    streams: StreamRegistry, generation_id: str, owner: Owner, epoch: str | None = None
) -> GenerationHandle | None:
    """The owner's generation, on this process or (with LLMRELAY_REDIS_URL) one another
    process runs; with `epoch` (from a client's event id), only that instance of its log."""
    generation = await streams.find(generation_id, epoch)
    if generation is None or generation.identity.owner != owner:
        return None
    return generation
