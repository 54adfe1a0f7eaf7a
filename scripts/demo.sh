#!/usr/bin/env bash
# The main job, end to end: set everything up, serve a page on loopback, run a worker, scan the
# page in a locked-down container, and print the result. Uses the embedded SQLite default
# (./scanbox.db).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh

# The demo target is on this machine's loopback. The fetcher has no network of its own and goes
# out only through the egress proxy (which the worker starts); allow 127.0.0.0/8, which both
# block by default.
export FETCHER_ALLOW_NETWORKS=127.0.0.0/8 FETCHER_ALLOWED_PORTS=any
export LOG_FORMAT=console

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/python -m http.server --bind 127.0.0.1 --directory demo "$port" >/dev/null 2>&1 &
server=$!
.venv/bin/scanbox worker --concurrency 1 2>/tmp/scanbox-demo-worker.log &
worker=$!
trap 'kill -TERM $worker $server 2>/dev/null || true; wait $worker $server 2>/dev/null || true' EXIT

url="http://127.0.0.1:$port/"
echo "scanning $url"
job=$(.venv/bin/scanbox submit "$url")
.venv/bin/scanbox wait --timeout 120 "$job"
.venv/bin/scanbox show "$job"
