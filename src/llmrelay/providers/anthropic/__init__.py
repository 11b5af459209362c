"""The `anthropic` kind: Anthropic's Messages API through the official `anthropic` SDK.

`messages`: the backend (the request, its raw events, closing); `upstream_errors`: how
Anthropic's failures become `ProviderError`s; `config`: the kind's entry of the models file
and its environment settings. Nothing is imported here: reading a config must not load the SDK.
"""
