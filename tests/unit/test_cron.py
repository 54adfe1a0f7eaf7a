from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.errors import InvalidCron, UsageError
from worker.schedule.cron import Cron

T = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_five_fields_tick_on_the_minute_grid_in_utc() -> None:
    cron = Cron.parse("  */15   * * * * ")
    assert cron.expression == "*/15 * * * *"
    assert cron.next_after(T) == datetime(2026, 3, 1, 12, 15, tzinfo=UTC)
    assert cron.next_after(datetime(2026, 3, 1, 12, 14, 59, 999999, tzinfo=UTC)) == datetime(
        2026, 3, 1, 12, 15, tzinfo=UTC
    )


def test_a_sixth_field_is_seconds() -> None:
    cron = Cron.parse("* * * * * */2")
    assert cron.next_after(T) == datetime(2026, 3, 1, 12, 0, 2, tzinfo=UTC)


def test_aliases_are_accepted() -> None:
    assert Cron.parse("@hourly").next_after(T) == datetime(2026, 3, 1, 13, tzinfo=UTC)


def test_latest_due_is_the_last_tick_up_to_now() -> None:
    cron = Cron.parse("*/5 * * * *")
    first = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    assert cron.latest_due(first, datetime(2026, 3, 1, 12, 4, 59, tzinfo=UTC)) is None
    assert cron.latest_due(first, first) == first
    assert cron.latest_due(first, datetime(2026, 3, 1, 12, 21, tzinfo=UTC)) == datetime(
        2026, 3, 1, 12, 20, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "expression",
    ["", "   ", "* * * *", "* * * * * * *", "61 * * * *", "a b c d e", "@never", "* * 31 2 * 99"],
)
def test_bad_expressions_are_usage_errors(expression: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        Cron.parse(expression)
    assert isinstance(caught.value, UsageError)
    assert caught.value.expression == expression
