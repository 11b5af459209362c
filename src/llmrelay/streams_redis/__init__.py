"""Generations shared between processes and hosts through Redis (LLMRELAY_REDIS_URL).

codec.py (entries and key names), log.py (the owner's and a follower's log), remote.py (a
generation another process owns), watchdog.py (owners that died), sharing.py (all of it for
one process: `RedisSharing`, the `streams.Sharing` the app plugs into its `StreamRegistry`).
"""

from llmrelay.streams_redis.log import FollowedLog, RedisEventLog
from llmrelay.streams_redis.sharing import RedisSharing, connect

__all__ = ["FollowedLog", "RedisEventLog", "RedisSharing", "connect"]
