"""What a message carries beyond its text, in and out of its JSON columns.

`messages.images` holds a user's images as a JSON list of URLs (the page sends data URLs);
`messages.tool_calls` an answer's calls as a JSON list of {id, name, arguments}. NULL means
none, so the rows of plain text (every row from before migration 0003) read as they always did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llmrelay.store.records import MessageRecord, ToolCallRecord


def images_json(images: Sequence[str]) -> str | None:
    return json.dumps(list(images)) if images else None


def tool_calls_json(calls: Sequence[ToolCallRecord]) -> str | None:
    if not calls:
        return None
    return json.dumps([{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls])


def message_record(row: Mapping[Any, Any]) -> MessageRecord:
    """A `messages` row as a record, its JSON columns decoded."""
    fields = dict(row)
    images = fields.pop("images", None)
    calls = fields.pop("tool_calls", None)
    return MessageRecord(
        **fields,
        images=tuple(json.loads(images)) if images else (),
        tool_calls=tuple(ToolCallRecord(**call) for call in json.loads(calls)) if calls else (),
    )
