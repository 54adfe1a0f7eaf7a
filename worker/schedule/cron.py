"""Cron expressions in UTC: checking them, and the ticks they name.

Five fields (``minute hour day month weekday``) or the ``@hourly``-style aliases give minute
resolution, as in crontab. A sixth field, seconds, may follow (croniter's convention:
``"* * * * * */2"`` is every two seconds), for schedules that must run more often than once a
minute. Ticks are absolute times on the expression's grid, so every scheduler replica computes
the same ticks on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import CroniterError, croniter

from worker.errors import InvalidCron

#: Field counts scanbox accepts: crontab's five, or five plus seconds.
FIELD_COUNTS = (5, 6)


@dataclass(frozen=True)
class Cron:
    """A checked cron expression, read in UTC."""

    expression: str

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Check ``expression``; raise ``InvalidCron`` saying what is wrong with it."""
        text = " ".join(expression.split())
        if not text:
            raise InvalidCron(expression, "empty")
        if not text.startswith("@") and len(text.split()) not in FIELD_COUNTS:
            raise InvalidCron(expression, "use 5 fields, or 6 with seconds last")
        try:
            croniter(text, datetime(2000, 1, 1, tzinfo=UTC))
        except (CroniterError, ValueError, KeyError) as error:
            raise InvalidCron(expression, str(error) or type(error).__name__) from None
        return cls(text)

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment`` (timezone-aware, UTC)."""
        tick: datetime = croniter(self.expression, moment.astimezone(UTC)).get_next(datetime)
        return tick.astimezone(UTC)

    def latest_due(self, first: datetime, now: datetime) -> datetime | None:
        """The last tick from ``first`` (a tick) up to ``now``; ``None`` if ``first`` is later.

        A scheduler that wakes after several ticks fires only the latest: missed ticks are not
        made up for, as with cron itself.
        """
        if first > now:
            return None
        # Ticks fall on whole seconds: the last one before now + 1 µs is the last one <= now.
        start = now.astimezone(UTC) + timedelta(microseconds=1)
        due: datetime = croniter(self.expression, start).get_prev(datetime)
        return max(due.astimezone(UTC), first)
