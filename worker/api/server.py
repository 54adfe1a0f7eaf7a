"""``scanbox api``: the API served by uvicorn, after the database's schema is checked.

One process, its requests handled on uvicorn's event loop and the blocking ones (database,
Redis) on its thread pool. Run more processes behind a proxy for more; they share the
database, Redis (the rate limits) and ``API_SECRET`` (cursors and forms).
"""

from __future__ import annotations

import uvicorn

from worker.api.app import create_app
from worker.api.wiring import build_parts
from worker.logs import configure_logging, get_logger
from worker.settings import Settings

#: Seconds uvicorn waits for open requests when told to stop.
GRACEFUL_STOP_S = 10


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Serve the API on ``host:port`` until SIGINT or SIGTERM.

    Raises ``SchemaMismatch`` before listening if the database is at another revision.
    """
    parts = build_parts(settings)
    parts.db.create_schema()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    get_logger().info("api_listening", host=host, port=port)
    config = uvicorn.Config(
        create_app(parts),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_STOP_S,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        parts.db.dispose()
        parts.redis.close()
