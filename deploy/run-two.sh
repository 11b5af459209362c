#!/usr/bin/env bash
# Two llmrelay instances on 127.0.0.1:8001 and :8002 sharing Redis and PostgreSQL, for the nginx
# config beside this file. Settings come from the environment as for `llmrelay serve`; these
# two must be the same for every instance:
#   LLMRELAY_REDIS_URL     (default here redis://127.0.0.1:6379/0)
#   LLMRELAY_DATABASE_URL  (default here postgresql://postgres@127.0.0.1:5432/llmrelay)
# Ctrl-C stops both.
set -euo pipefail
export LLMRELAY_REDIS_URL="${LLMRELAY_REDIS_URL:-redis://127.0.0.1:6379/0}"
export LLMRELAY_DATABASE_URL="${LLMRELAY_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/llmrelay}"
LLMRELAY="${LLMRELAY:-llmrelay}"

"$LLMRELAY" db upgrade   # once, before the instances start
"$LLMRELAY" serve --port 8001 &
first=$!
"$LLMRELAY" serve --port 8002 &
second=$!
trap 'kill "$first" "$second" 2>/dev/null; wait' INT TERM EXIT
wait -n
