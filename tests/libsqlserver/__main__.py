"""``python -m tests.libsqlserver --dir DIR [--host H] [--port N] [--auth-token T]``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from tests.libsqlserver.server import ServerConfig, make_app

#: Seconds the server waits for requests under way when it is told to stop.
SHUTDOWN_TIMEOUT_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(prog="libsqlserver", description=__doc__)
    parser.add_argument("--dir", required=True, help="directory of the SQLite files served")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--auth-token", default=None, help="token clients must send in hello")
    parser.add_argument("--busy-timeout-ms", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="libsqlserver: %(message)s")
    config = ServerConfig(
        directory=Path(args.dir),
        auth_token=args.auth_token,
        busy_timeout_s=args.busy_timeout_ms / 1000,
    )
    web.run_app(
        make_app(config),
        host=args.host,
        port=args.port,
        print=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )


if __name__ == "__main__":
    main()
