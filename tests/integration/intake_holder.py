"""``scanbox intake`` that stops between commit and acknowledgement, for a kill -9 there.

Run as ``python -m tests.integration.intake_holder MARKER`` with the settings in the
environment: the intake is the production one (``worker.app.intake.run_intake``); after the
first group of jobs is committed, the hook writes the entry ids to ``MARKER`` and then waits
forever, so the test can kill the process with the entries committed and not acknowledged.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from worker.app.intake import run_intake
from worker.settings import Settings


def main(marker: Path) -> int:
    def hold(entry_ids: Sequence[str]) -> None:
        marker.write_text("\n".join(entry_ids))
        threading.Event().wait()

    return run_intake(Settings(), after_commit=hold)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
