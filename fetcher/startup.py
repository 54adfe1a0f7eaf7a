"""How long ago this process started, to report the fetcher's own start-up cost.

Linux records a process's start in clock ticks since boot (``/proc/self/stat`` field 22);
comparing it with ``CLOCK_BOOTTIME``, the same clock at nanosecond resolution, is finer than
``/proc/uptime`` and leaves only the tick (usually 10 ms) as uncertainty.
"""

from __future__ import annotations

import os
import time

#: Where the kernel reports this process's start time.
PROC_SELF_STAT = "/proc/self/stat"
#: Position of ``starttime`` among the fields after the command name (field 22 overall,
#: counting from 1, and the fields after ")" start at field 3).
STARTTIME_INDEX = 22 - 3


def process_age() -> float | None:
    """Return seconds since this process started, or None where the platform cannot say."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is None:
        return None
    try:
        with open(PROC_SELF_STAT, "rb") as stat:
            content = stat.read()
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        # The command name in parentheses may itself contain spaces and parentheses.
        fields = content[content.rindex(b")") + 2 :].split()
        started = int(fields[STARTTIME_INDEX]) / ticks_per_second
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, time.clock_gettime(boottime) - started)
