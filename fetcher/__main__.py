"""Command line: ``python3 -m fetcher URL [options]`` prints one JSON report on stdout.

With ``--url-stdin`` instead of a URL, the URL is the first line of stdin: a container can be
made and started before its URL is known. A fetcher that finds no URL waiting yet loads
everything its fetch will need first, so that the wait, not the scan, pays for it.

Exit status 0 means a report was printed, whatever it says (blocked, timed out, a 404...);
2 means bad arguments, with one line on stderr and nothing on stdout. Anything else is a bug.
"""

from __future__ import annotations

import importlib
import select
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from fetcher.fetch import fetch
from fetcher.options import URL_STDIN, parse_invocation
from fetcher.startup import process_age

#: What the first request of a fetch to an IP address does not wait for: the response side,
#: the report, TLS and name lookups, and the egress proxy's client (only a fetch through the
#: proxy needs it). A fetch imports each where it is first used; a fetcher that waits for
#: its URL on stdin imports them all before it is ready.
DEFERRED_MODULES = (
    "fetcher.proxy",
    "http.client",
    "ssl",
    "threading",
    "json",
    "fetcher.body",
    "fetcher.retry",
    "fetcher.report",
    "fetcher.html",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Fetch the URL named in ``argv`` (default: the process arguments) and print the report."""
    arguments = sys.argv[1:] if argv is None else argv
    ready_age = None
    if URL_STDIN in arguments and not input_waiting(sys.stdin):
        # Nothing to fetch yet: load what the fetch needs while the URL is on its way. A
        # process that waits for its URL started up once it was ready to read it.
        for name in DEFERRED_MODULES:
            importlib.import_module(name)
        ready_age = process_age()
    invocation = parse_invocation(arguments)
    if ready_age is None:
        outcome = fetch(invocation.url, options=invocation.options)
    else:
        outcome = fetch(invocation.url, options=invocation.options, process_age=lambda: ready_age)
    import json  # noqa: PLC0415 (see DEFERRED_MODULES)

    from fetcher.report import build_report  # noqa: PLC0415 (the same)

    report = build_report(outcome, now=time.time())
    # ASCII-only output survives any locale the container's stdout happens to have.
    sys.stdout.write(json.dumps(report, ensure_ascii=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


def input_waiting(stream: TextIO) -> bool:
    """Whether ``stream`` has input to read now (a URL written before the fetcher got to it)."""
    try:
        readable, _, _ = select.select([stream], [], [], 0)
    except (OSError, ValueError, TypeError):  # no stdin, or a closed one
        return False
    return bool(readable)


if __name__ == "__main__":
    sys.exit(main())
