"""Model backends behind one protocol (`base.Provider`), and the kinds that build them.

`registry` declares the kinds (`ModelConfig`: one pydantic config per kind, each with its
`build`); a config comes from one entry of the models file (`llmrelay.models`) or from the
environment settings (`registry.config_from_settings`). Either way a backend gets the same
timeouts, retries and limits, and the errors name what the user wrote.

Nothing is imported here, so reading `base` does not load every backend's config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmrelay.providers.base import Provider
    from llmrelay.settings import Settings


async def build_provider(settings: Settings) -> Provider:
    """The backend the environment settings ask for (`registry.build_provider`; kept here for
    `llmrelay.ask`)."""
    from llmrelay.providers.registry import build_provider as build

    return await build(settings)
