"""Command line: ``python3 -m fetcher URL [options]`` prints one JSON report on stdout.

Exit status 0 means a report was printed, whatever it says (blocked, timed out, a 404...);
2 means bad arguments, with one line on stderr and nothing on stdout. Anything else is a bug.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

from fetcher.fetch import fetch
from fetcher.options import parse_invocation
from fetcher.report import build_report


def main(argv: Sequence[str] | None = None) -> int:
    """Fetch the URL named in ``argv`` (default: the process arguments) and print the report."""
    invocation = parse_invocation(sys.argv[1:] if argv is None else argv)
    outcome = fetch(invocation.url, options=invocation.options)
    report = build_report(outcome, now=time.time())
    # ASCII-only output survives any locale the container's stdout happens to have.
    sys.stdout.write(json.dumps(report, ensure_ascii=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
