"""llmrelay: stream a language model's answers to people and programs over Server-Sent Events."""

__version__ = "0.1.0"
