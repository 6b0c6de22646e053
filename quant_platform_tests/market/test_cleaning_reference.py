"""Cleaning against an independent plain-Python implementation, pandera schemas, and synthetic ground truth."""

from __future__ import annotations

import bisect
import math
import statistics
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from quant_platform.market import quarantine as q
from quant_platform.market.cleaning import CleaningConfig, clean_day
from quant_platform.market.schemas import Bars5m, QuarantinedRows
from quant_platform.market.sources.base import RAW_TABLES
from quant_platform.market.sources.synthetic import MISSING_BAR, SyntheticConfig, SyntheticMarket

DAY = "2024-01-03"
NOISY = SyntheticConfig(seed=21, gap_rate=0.05, gap_mean_run=6.0, invalid_rate=0.01, aux_defect_rate=0.05)


def _bad(x: float | None) -> bool:
    return x is None or not math.isfinite(x)


def _bar_reason(
    row: dict, start: datetime, end: datetime, step: timedelta, now: datetime | None
) -> str | None:
    """The module docstring's checks, written out row by row."""
    ts = row["ts"]
    if ts is None or not start <= ts < end:
        return q.TS_OUTSIDE_DAY
    if (ts - start) % step:
        return q.TS_MISALIGNED
    if now is not None and ts + step > now:
        return q.TS_IN_FUTURE
    if row["symbol"] is None:
        return q.UNKNOWN_SYMBOL
    prices = [row["open"], row["high"], row["low"], row["close"]]
    if any(_bad(p) for p in prices):
        return q.MISSING_PRICE
    if any(p <= 0 for p in prices):
        return q.NONPOSITIVE_PRICE
    o, h, lo, c = prices
    if h < lo:
        return q.HIGH_BELOW_LOW
    if not (lo <= o <= h and lo <= c <= h):
        return q.OHLC_INCONSISTENT
    volumes = [
        row[k] for k in ("volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume", "trades")
    ]
    if any(v is not None and math.isinf(v) for v in volumes):
        return q.NONFINITE_VOLUME
    if any(v is not None and v < 0 for v in volumes):
        return q.NEGATIVE_VOLUME
    return None


def _valid_bars(rows: list[dict], start, end, step, now) -> tuple[list[dict], list[tuple]]:
    seen, valid, rejected = set(), [], []
    for row in rows:
        reason = _bar_reason(row, start, end, step, now)
        if reason is None and (row["symbol"], row["ts"]) in seen:
            reason = q.DUPLICATE_TS
        if reason is None:
            seen.add((row["symbol"], row["ts"]))
            valid.append(row)
        else:
            rejected.append((row["symbol"], row["ts"], reason))
    return valid, rejected


def _sum(values: list) -> float | None:
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return None
    return sum(values)


def reference_clean(
    raw: dict[str, pl.DataFrame], day: str, interval: int = 5, now: datetime | None = None
) -> dict:
    """Plain-Python cleaning of one day: bars keyed by (symbol, slot) and the quarantine triples."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    end, step, width = start + timedelta(days=1), timedelta(minutes=1), timedelta(minutes=interval)
    perp, rejected_perp = _valid_bars(raw["perp_bars"].to_dicts(), start, end, step, now)
    spot, rejected_spot = _valid_bars(raw["spot_bars"].to_dicts(), start, end, step, now)
    symbols = sorted(
        {r["symbol"] for r in raw["perp_bars"].to_dicts() + raw["spot_bars"].to_dicts() if r["symbol"]}
    )

    def slot_of(ts: datetime) -> datetime:
        return start + ((ts - start) // width) * width

    groups: dict[tuple, list[dict]] = {}
    for row in sorted(perp, key=lambda r: (r["symbol"], r["ts"])):
        groups.setdefault((row["symbol"], slot_of(row["ts"])), []).append(row)
    spot_close: dict[tuple, float] = {}
    for row in sorted(spot, key=lambda r: (r["symbol"], r["ts"])):
        spot_close[(row["symbol"], slot_of(row["ts"]))] = row["close"]

    def prints(table: str, value: str) -> dict[str, list[tuple[datetime, float]]]:
        seen, out = set(), {}
        for row in raw[table].to_dicts():
            ok = row["ts"] is not None and start <= row["ts"] < end and row["symbol"] in symbols
            ok = ok and not _bad(row[value])
            if table == "funding":
                mark = row["mark_price"]
                ok = ok and (mark is None or math.isnan(mark) or (mark > 0 and not math.isinf(mark)))
            else:
                worth = row["open_interest_value"]
                ok = ok and row[value] >= 0 and (worth is None or math.isnan(worth) or 0 <= worth < math.inf)
            if ok and (row["symbol"], row["ts"]) not in seen:
                seen.add((row["symbol"], row["ts"]))
                out.setdefault(row["symbol"], []).append((row["ts"], row[value]))
        return {s: sorted(v) for s, v in out.items()}

    funding, oi = prints("funding", "funding_rate"), prints("open_interest", "open_interest")

    def asof(series: list[tuple[datetime, float]], at: datetime) -> float | None:
        i = bisect.bisect_right([t for t, _ in series], at)
        return series[i - 1][1] if i else None

    liq: dict[tuple, list[float]] = {}
    seen_liq = set()
    for row in raw["liquidations"].to_dicts():
        key = tuple(row.values())
        ok = row["ts"] is not None and start <= row["ts"] < end and row["symbol"] in symbols
        ok = (
            ok
            and row["side"] in ("BUY", "SELL")
            and not any(_bad(row[k]) for k in ("price", "qty", "notional"))
        )
        ok = ok and all(row[k] > 0 for k in ("price", "qty", "notional")) and key not in seen_liq
        if ok:
            seen_liq.add(key)
            sums = liq.setdefault((row["symbol"], slot_of(row["ts"])), [0.0, 0.0])
            sums[0 if row["side"] == "SELL" else 1] += row["notional"]

    bars = {}
    for symbol in symbols:
        history: list[float] = []
        for k in range(1440 // interval):
            slot = start + k * width
            rows = groups.get((symbol, slot), [])
            bar = {"n_source_bars": len(rows), "gap": not rows}
            if rows:
                bar |= {
                    "open": rows[0]["open"],
                    "high": max(r["high"] for r in rows),
                    "low": min(r["low"] for r in rows),
                    "close": rows[-1]["close"],
                    "volume": _sum([r["volume"] for r in rows]),
                    "trades": _sum([r["trades"] for r in rows]),
                    "taker_buy_volume": _sum([r["taker_buy_volume"] for r in rows]),
                }
                history.append(bar["volume"])
                if bar["volume"] is not None:
                    median = statistics.median(v for v in history[-288:] if v is not None)
                    bar["volume_ok"] = bar["volume"] > 0.05 * median
                else:
                    bar["volume_ok"] = True
            else:
                bar |= dict.fromkeys(("open", "high", "low", "close", "volume", "trades"), None)
                bar["volume_ok"] = False
                history.append(None)  # a gap slot is in the window but has no volume
            bar["spot_close"] = spot_close.get((symbol, slot))
            bar["funding_rate"] = asof(funding.get(symbol, []), slot + width)
            bar["open_interest"] = asof(oi.get(symbol, []), slot + width)
            bar["liq_long_notional"], bar["liq_short_notional"] = liq.get((symbol, slot), [0.0, 0.0])
            bars[(symbol, slot)] = bar
    return {"bars": bars, "rejected": {"perp_bars": rejected_perp, "spot_bars": rejected_spot}}


@pytest.fixture(scope="module")
def noisy_day() -> tuple[SyntheticMarket, dict[str, pl.DataFrame]]:
    market = SyntheticMarket(NOISY)
    return market, {t: market.fetch(t, DAY) for t in RAW_TABLES}


def _run(raw: dict[str, pl.DataFrame], **kwargs):
    return clean_day(
        DAY,
        raw["perp_bars"],
        raw["spot_bars"],
        raw["funding"],
        raw["open_interest"],
        raw["liquidations"],
        **kwargs,
    )


def test_matches_plain_python_reference(noisy_day) -> None:
    _, raw = noisy_day
    result = _run(raw)
    expected = reference_clean(raw, DAY)
    got = {(r["symbol"], r["ts"]): r for r in result.bars.to_dicts()}
    assert got.keys() == expected["bars"].keys()
    for key, want in expected["bars"].items():
        row = got[key]
        for column, value in want.items():
            if value is None or isinstance(value, bool | int):
                assert row[column] == value, (key, column)
            else:
                assert row[column] == pytest.approx(value, rel=1e-12), (key, column)
        if want["close"] is not None and want["spot_close"] is not None:
            assert row["basis_bps"] == pytest.approx(1e4 * (want["close"] / want["spot_close"] - 1), rel=1e-9)
    for table in ("perp_bars", "spot_bars"):
        mine = (
            result.quarantined.filter(pl.col("source_table") == table).select("symbol", "ts", "reason").rows()
        )
        assert sorted(mine) == sorted(expected["rejected"][table])
    assert (
        result.bars.filter("gap").height > 0
        and result.bars.filter(pl.col("n_source_bars").is_between(1, 4)).height > 0
    )


def test_outputs_satisfy_the_schemas_and_accounting(noisy_day) -> None:
    _, raw = noisy_day
    result = _run(raw)
    Bars5m.validate(result.bars)
    QuarantinedRows.validate(result.quarantined)
    result.check()
    perp = result.accounting["perp_bars"]
    assert perp["raw"] == raw["perp_bars"].height
    assert perp["raw"] == result.bars["n_source_bars"].sum() + perp["quarantined"]
    assert result.bars.select("symbol", "ts").is_unique().all()
    assert result.bars.height == len(NOISY.symbols) * 288


def test_cleaning_catches_exactly_the_injected_defects(noisy_day) -> None:
    market, raw = noisy_day
    result = _run(raw)
    truth = market.injected_defects(DAY)
    injected = truth.filter(pl.col("kind") != MISSING_BAR).select(
        pl.col("table").alias("source_table"), "symbol", "ts", pl.col("kind").alias("reason")
    )
    caught = result.quarantined.select("source_table", "symbol", "ts", "reason")
    assert injected.height > 20
    assert sorted(caught.rows()) == sorted(injected.rows())
    # Gap rows are exactly the slots where every minute was removed or invalid.
    lost = truth.filter((pl.col("table") == "perp_bars") & (pl.col("kind") != q.TS_OUTSIDE_DAY))
    lost = lost.filter(pl.col("kind") != q.DUPLICATE_TS)  # a duplicate's original is still there
    full_slots = lost.group_by("symbol", pl.col("ts").dt.truncate("5m")).len().filter(pl.col("len") == 5)
    gaps = result.bars.filter("gap").select("symbol", "ts")
    assert sorted(gaps.rows()) == sorted(full_slots.select("symbol", "ts").rows())
    partial = lost.group_by("symbol", pl.col("ts").dt.truncate("5m")).len().filter(pl.col("len") < 5)
    counts = partial.join(result.bars, on=["symbol", "ts"])
    assert (counts["n_source_bars"] == 5 - counts["len"]).all()


def test_hourly_grid_from_the_same_minutes(noisy_day) -> None:
    _, raw = noisy_day
    hourly = _run(raw, config=CleaningConfig(interval_minutes=60))
    hourly.check()
    expected = reference_clean(raw, DAY, interval=60)
    got = {(r["symbol"], r["ts"]): r for r in hourly.bars.to_dicts()}
    assert got.keys() == expected["bars"].keys()
    for key, want in expected["bars"].items():
        for column in ("open", "high", "low", "close", "n_source_bars", "spot_close", "funding_rate"):
            assert got[key][column] == (pytest.approx(want[column]) if want[column] is not None else None)


def test_bars_known_by_now_never_change_when_the_rest_of_the_day_arrives(noisy_day) -> None:
    """Point in time: cleaning at 13:37 with ``now`` gives exactly the full day's bars that closed by then."""
    _, raw = noisy_day
    now = datetime(2024, 1, 3, 13, 37, tzinfo=UTC)
    partial = _run(raw, now=now)
    full = _run(raw)
    partial.check()
    closed = pl.col("ts") + pl.duration(minutes=5) <= now
    assert partial.bars.filter(closed).equals(full.bars.filter(closed))
    assert partial.bars.filter(closed).height == len(NOISY.symbols) * (13 * 12 + 7)
    late = partial.quarantined.filter(pl.col("reason") == q.TS_IN_FUTURE)
    assert late.height > 0 and (late["ts"] >= now - timedelta(minutes=1)).all()
