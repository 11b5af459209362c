"""Anthropic's Messages API at /v1/messages: request schema, translation to a generation,
the message and its event stream, and errors in Anthropic's shape."""
