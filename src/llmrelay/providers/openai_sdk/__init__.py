"""The backends that talk through the official OpenAI SDK (`AsyncOpenAI`).

`client`: what both share, including the one `stream` method (the request, the raw events,
closing, failures); `responses`: the `openai` kind (Responses API); `chat`: the
`openai-compatible` kind (Chat Completions); `upstream_errors`: how an upstream's failure
becomes a `ProviderError`; `config`: both kinds' entries of the models file. Nothing is
imported here: reading a config must not load the SDK.
"""
