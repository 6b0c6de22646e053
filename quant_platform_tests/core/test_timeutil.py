"""``parse_day`` accepts exactly ``YYYY-MM-DD``: every other ISO-8601 spelling of a day is refused."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_platform.core.timeutil import day_range, parse_day
from quant_platform.registry import RunSetSpec


@pytest.mark.parametrize(
    "text",
    [
        "20241001",  # ISO basic format
        "2024-W40-1",  # ISO week date
        "2024W401",
        "2024-275",  # ISO ordinal date
        "2024-10-1",
        "2024-1-01",
        " 2024-10-01",
        "2024-10-01 ",
        "2024-10-01T00:00",
        "2024-13-01",
        "2024-02-30",
        "２０２４-10-01",  # full-width digits
        "",
    ],
)
def test_rejects_every_other_spelling(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_day(text)


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_round_trips_every_calendar_day(day: date) -> None:
    assert parse_day(day.isoformat()) == day and parse_day(day) == day


def test_specs_and_ranges_refuse_the_same_forms() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        RunSetSpec(dataset_id="d1", start="20240101")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        day_range("2024-W01-1", "2024-01-05")
