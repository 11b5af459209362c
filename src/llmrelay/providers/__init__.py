"""Model backends behind one protocol (`base.Provider`), and the kinds that build them.

`registry` declares the kinds (`ModelConfig`: one pydantic config per kind, each with its
`build`); a config comes from one entry of the models file (`llmrelay.models`) or from the
environment settings (`registry.config_from_settings`). Either way a backend gets the same
timeouts, retries and limits, and the errors name what the user wrote.

Nothing is imported here, so reading `base` does not load every backend's config.
"""
