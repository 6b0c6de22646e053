"""Point-in-time proof from raw market tables: the cleaning (every column of bars_5m) and the chain above it,
recomputed on the raw rows known at a cut, equal the full-data values for every bar <= the cut.

Truth: the property itself (hypothesis over cuts and market seeds), and planted bugs: a centred volume
median in the cleaning (the real lookahead the issue describes) must be reported by the audit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_platform.features import lookahead_cli, lookahead_report
from quant_platform.features.lookahead import compare_prefix
from quant_platform.market.cleaning import BARS_5M_COLUMNS
from quant_platform.market.raw_window import RawWindow
from quant_platform.market.sources.synthetic import SyntheticConfig, SyntheticMarket

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")  # the default universe
# Seed 7 of the default market, 2024-01-02..03: thin spells on both days (checked below, not assumed).
MARKET = SyntheticMarket(SyntheticConfig(symbols=SYMBOLS))
FIRST, LAST = "2024-01-02", "2024-01-03"


@pytest.fixture(scope="module")
def window() -> RawWindow:
    return RawWindow.from_source(MARKET, FIRST, LAST)


@pytest.fixture(scope="module")
def spells() -> pl.DataFrame:
    return pl.concat([MARKET.thin_spells(day) for day in (FIRST, LAST)])


def _centred_rolling_median(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant the issue's bug for one test: every rolling median is centred (reads half a window ahead)."""
    trailing = pl.Expr.rolling_median

    def centred(self: pl.Expr, window_size: int, *args: object, **kwargs: object) -> pl.Expr:
        return trailing(self, window_size, *args, **{**kwargs, "center": True})

    monkeypatch.setattr(pl.Expr, "rolling_median", centred)


def _spell_cuts(spells: pl.DataFrame) -> list[datetime]:
    """A cut an hour into every thin spell long enough, and one at its end: where a median that read later
    bars would see the spell differently."""
    cuts = []
    for start, end in spells.select("start", "end").rows():
        if end - start >= timedelta(minutes=90):
            cuts += [start + timedelta(hours=1), end - timedelta(minutes=5)]
    return sorted({c.replace(minute=c.minute - c.minute % 5) for c in cuts})


def test_the_synthetic_market_exercises_every_market_layer_flag(window: RawWindow, spells) -> None:
    """Each flag of bars_5m takes both values (or varies) on the audited days, so a lookahead in its
    computation has something to change: volume_ok fails on thin bars and passes elsewhere, gap and partial
    bars exist, basis, funding and open interest vary, liquidations print."""
    bars = window.clean()
    assert spells.height >= 2 and (spells["end"] - spells["start"]).max() >= timedelta(minutes=90)
    live = bars.filter(~pl.col("gap"))
    assert 0 < live.filter(~pl.col("volume_ok")).height < live.height // 4
    assert bars.filter("gap").height > 0 and live.filter(pl.col("n_source_bars") < 5).height > 0
    in_spell = live.join_where(
        spells, pl.col("symbol") == pl.col("symbol_right"), pl.col("ts") >= pl.col("start"),
        pl.col("ts") < pl.col("end"),
    )  # fmt: skip
    outside = live.join(in_spell.select("symbol", "ts"), on=["symbol", "ts"], how="anti")
    # Thin spells are thin: their median volume is a small fraction of the rest of the symbol's day.
    ratio = (
        in_spell.group_by("symbol").agg(pl.col("volume").median().alias("thin"))
        .join(outside.group_by("symbol").agg(pl.col("volume").median().alias("normal")), on="symbol")
        .select(pl.col("thin") / pl.col("normal"))
    )  # fmt: skip
    assert ratio.to_series().max() < 0.2
    assert not in_spell["volume_ok"].all() and outside["volume_ok"].mean() > 0.99
    for column in ("basis_bps", "funding_rate", "open_interest"):
        assert live[column].drop_nulls().n_unique() > 10, column
    assert (live["liq_long_notional"] > 0).any() and (live["liq_short_notional"] > 0).any()


def test_raw_audit_of_bars_5m_reports_nothing_on_the_right_code(window: RawWindow, spells) -> None:
    cuts = _spell_cuts(spells)
    assert len(cuts) >= 2
    report = lookahead_report(window, cuts, asset="bars_5m")
    assert report.height == 0, report


def test_raw_audit_catches_a_centred_volume_median(window: RawWindow, spells, monkeypatch) -> None:
    """The planted bug of the issue: volume_ok against a centred median. Only volume_ok changes (the median is
    not an output); the audit names it, with its count, at the cuts inside the thin spells."""
    cuts = _spell_cuts(spells)
    _centred_rolling_median(monkeypatch)
    leaky = RawWindow.from_source(MARKET, FIRST, LAST)  # a fresh window: nothing cleaned with the right code
    report = lookahead_report(leaky, cuts, asset="bars_5m")
    assert report["column"].to_list() == ["volume_ok"], report
    assert report["n_changed"][0] > 0 and report["first_offending_cut"][0] in cuts


def test_qp_lookahead_audits_bars_5m_from_raw_tables_and_finds_the_centred_median(
    monkeypatch, capsys
) -> None:
    """The CLI path with its defaults (48 sampled cuts in a partition day of the default market): exit 0 on the
    right code, exit 1 with volume_ok reported on the planted bug."""
    argv = ["lookahead", "--asset", "bars_5m", "--partition", LAST]
    assert lookahead_cli.main(argv) == 0
    assert "no past value changed at 48 cut point(s)" in capsys.readouterr().out
    _centred_rolling_median(monkeypatch)
    assert lookahead_cli.main(argv) == 1
    assert "volume_ok" in capsys.readouterr().out


def test_known_at_keeps_exactly_the_rows_known_at_the_cut_bar_close(window: RawWindow) -> None:
    cut = datetime.fromisoformat("2024-01-03T10:35:00+00:00")
    known = window.known_at(cut)
    assert known.days == (FIRST, LAST) and known.tables[0] is window.tables[0]
    close = cut + timedelta(minutes=5)
    for table, frame in known.tables[1].items():
        full = window.tables[1][table]
        stamped = frame.filter(pl.col("ts").is_not_null())
        limit = (pl.col("ts") <= close) if table in ("funding", "open_interest") else (pl.col("ts") < close)
        assert stamped.height == full.filter(limit).height, table
    bars = known.clean()
    assert bars["ts"].max() == cut and list(bars.columns) == list(BARS_5M_COLUMNS)
    with pytest.raises(ValueError, match="cannot extend"):
        known.known_at(cut + timedelta(hours=1))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**16), cut_slot=st.integers(min_value=0, max_value=286))
def test_truncating_raw_tables_never_changes_past_bars(seed: int, cut_slot: int) -> None:
    """Property: for any market seed and any cut of the day, bars_5m cleaned from the raw rows known at the cut
    equal the full day's bars up to the cut, column by column (thin spells more frequent than the default)."""
    market = SyntheticMarket(
        SyntheticConfig(seed=seed, symbols=SYMBOLS[:2], thin_spells_per_day=3.0, gap_rate=0.01)
    )
    full = RawWindow.from_source(market, LAST, LAST)
    cut = datetime.fromisoformat(f"{LAST}T00:00:00+00:00") + timedelta(minutes=5 * cut_slot)
    bars = full.clean()
    assert compare_prefix(bars, full.known_at(cut).clean(), ("symbol", "ts"), cut) == []


def test_bars_5m_needs_raw_tables(window: RawWindow) -> None:
    """Cleaned bars cannot audit their own cleaning: the report refuses rather than compare bars to themselves."""
    with pytest.raises(ValueError, match="bars_5m is audited from raw tables"):
        lookahead_report(window.clean(), [window.clean()["ts"][100]], asset="bars_5m")


def test_features_audited_from_raw_tables_see_the_cleaning(window: RawWindow, spells, monkeypatch) -> None:
    """features_v1 reads volume_ok (the VOLUME_FILTER_FAIL_EVENT input): from raw tables the feature audit is
    clean on the right code, and the centred median in the cleaning reaches it as a changed volume_ok."""
    cuts = _spell_cuts(spells)
    assert lookahead_report(window, cuts, asset="features_v1").height == 0
    _centred_rolling_median(monkeypatch)
    report = lookahead_report(RawWindow.from_source(MARKET, FIRST, LAST), cuts, asset="features_v1")
    assert report["column"].to_list() == ["volume_ok"], report
