"""Features on observed daily sessions (equities): windows count trading days, closed days are absent.

Truths: AAPL's trading-day closes read straight from the real stocks CSV with pandas and the spec's formulas
written out in NumPy (Wilder RSI, rolling sample std of log returns, EWMA of squared returns); the NYSE
calendar the file records (the look-back must hold the warm-up in trading days); the full-history value of a
day (point in time); and planted panel defects that must be refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from quant_platform.features import compute_features, compute_features_for_day
from quant_platform.features.compute import lookback_days, validate_bars
from quant_platform.features.context import context_lookback_days
from quant_platform.features.spec import days_spanned, load_feature_spec
from quant_platform_tests.features.bars_fixture import make_bars, plant_gaps
from quant_platform_tests.market.test_ohlcv_csv import STOCKS, need

SPEC = load_feature_spec()
FIRST_DAY, LAST_DAY = "2010-01-01", "2010-04-30"


def _spec_param(name: str, key: str) -> int:
    return next(f for f in SPEC.features if f.name == name).params[key]


@pytest.fixture(scope="module")
def aapl_closes() -> pd.Series:
    """AAPL's closes on its trading days in the range, from the CSV itself (independent of cleaning)."""
    frame = pd.read_csv(need(STOCKS), usecols=["Ticker", "Date", "Close"])
    frame = frame[(frame.Ticker == "AAPL") & (frame.Date >= FIRST_DAY) & (frame.Date <= LAST_DAY)]
    return frame.set_index("Date")["Close"].sort_index()


@pytest.fixture(scope="module")
def observed_bars() -> pl.DataFrame:
    """The real stocks file cleaned on observed daily sessions over the range (closed days absent)."""
    from quant_platform.features.market_window import bars_for_days
    from quant_platform.market.sources.factory import make_source

    source = make_source("ohlcv_csv", path=str(need(STOCKS)))
    return bars_for_days(source, FIRST_DAY, LAST_DAY, bar_minutes=1440, sessions="observed")


@pytest.fixture(scope="module")
def aapl_features(observed_bars: pl.DataFrame) -> pl.DataFrame:
    features = compute_features(observed_bars, grid_minutes=1440, sessions="observed")
    return features.filter(pl.col("symbol") == "AAPL")


def _wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    change = np.diff(close)
    gain, loss = np.clip(change, 0, None), np.clip(-change, 0, None)
    out = np.full(close.size, np.nan)
    avg_gain, avg_loss = gain[:period].mean(), loss[:period].mean()
    for t in range(period, close.size):
        if t > period:
            avg_gain = (avg_gain * (period - 1) + gain[t - 1]) / period
            avg_loss = (avg_loss * (period - 1) + loss[t - 1]) / period
        out[t] = 100.0 if avg_loss == 0 else 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return out


def _ewma_vol(returns: np.ndarray, span: int) -> np.ndarray:
    alpha = 2.0 / (span + 1.0)
    out = np.full(returns.size, np.nan)
    variance = returns[1] ** 2  # seeded with the first return's square
    for t in range(1, returns.size):
        variance = (1 - alpha) * variance + alpha * returns[t] ** 2 if t > 1 else variance
        out[t] = np.sqrt(variance)
    return out


def test_windows_count_trading_days_on_real_aapl(aapl_features: pl.DataFrame, aapl_closes: pd.Series) -> None:
    # one row per trading day of the file (no weekend or holiday rows), none of them a gap
    assert aapl_features["ts"].dt.strftime("%Y-%m-%d").to_list() == aapl_closes.index.to_list()
    assert not aapl_features["gap"].any()
    close = aapl_closes.to_numpy()
    returns = np.r_[np.nan, np.diff(np.log(close))]
    window = _spec_param("realized_vol_12", "window")
    expected = {
        "rsi_14": _wilder_rsi(close, _spec_param("rsi_14", "period")),
        "realized_vol_12": pd.Series(returns).rolling(window).std(ddof=1).to_numpy(),
        "ewma_vol": _ewma_vol(returns, _spec_param("ewma_vol", "span")),
    }
    for name, truth in expected.items():
        warmup = next(f for f in SPEC.features if f.name == name).warmup_bars
        got = aapl_features[name].to_numpy()
        assert np.isnan(got[:warmup]).all(), name  # null (NaN here) exactly through the warm-up...
        assert np.isfinite(got[warmup:]).all(), name  # ...and defined on every trading day after it
        np.testing.assert_allclose(got[warmup:], truth[warmup:], rtol=1e-9, err_msg=name)


@pytest.fixture(scope="module")
def nyse_sessions() -> list[date]:
    dates = pd.read_csv(need(STOCKS), usecols=["Date"])["Date"].unique()
    return sorted(date.fromisoformat(d) for d in dates)


# 2001-09-17 follows the longest closure on record (Tuesday 9/11 to Friday, then a weekend)
@pytest.mark.parametrize("bars", [1, 3, 14, 49, 300, 1633])
def test_observed_lookback_holds_the_warmup_in_trading_days(nyse_sessions: list[date], bars: int) -> None:
    days = days_spanned(bars, 1440, "observed")
    sessions = np.array(nyse_sessions, dtype="datetime64[D]")
    # for every session day, the sessions strictly before it within the look-back reach the warm-up
    start = np.searchsorted(sessions, sessions - np.timedelta64(days, "D"), side="left")
    held = np.arange(sessions.size) - start
    assert (held[sessions >= sessions[0] + np.timedelta64(days, "D")] >= bars).all()


def test_observed_lookbacks_are_longer_and_refused_below_daily_bars() -> None:
    assert lookback_days(bar_minutes=1440, sessions="observed") > lookback_days(bar_minutes=1440)
    assert context_lookback_days(bar_minutes=1440, sessions="observed") > context_lookback_days(
        bar_minutes=1440
    )
    with pytest.raises(ValueError, match="daily bars"):
        days_spanned(10, 60, "observed")


def _observed_panel(n_days: int) -> pl.DataFrame:
    """A synthetic daily panel on a trading calendar: weekends, New Year's Day, Christmas and a four-day
    closure are absent for every symbol; one symbol has gap rows on session days (mid-history and the last)."""
    start = datetime(2015, 1, 1, tzinfo=UTC)
    bars = make_bars(n_symbols=2, n_bars=n_days, seed=11, gap_prob=0.0, start=start, bar_minutes=1440)
    day = pl.col("ts").dt.date()
    closure = (day >= date(2019, 9, 11)) & (day <= date(2019, 9, 14))
    holiday = ((day.dt.month() == 1) & (day.dt.day() == 1)) | ((day.dt.month() == 12) & (day.dt.day() == 25))
    bars = bars.filter((day.dt.weekday() <= 5) & ~holiday & ~closure)
    per_symbol = bars.height // 2
    return plant_gaps(bars, "SYM1USDT", [per_symbol // 2, per_symbol - 1])


def test_a_day_through_the_observed_lookback_equals_full_history() -> None:
    k = lookback_days(bar_minutes=1440, sessions="observed")
    bars = _observed_panel(k + 60)
    full = compute_features(bars, grid_minutes=1440, sessions="observed")
    last = bars["ts"].max().date()
    day = last.isoformat()
    daily = compute_features_for_day(bars, day, grid_minutes=1440, sessions="observed")
    expected = full.filter(pl.col("ts").dt.date() == last)
    assert daily.height == 2 and daily["gap"].to_list() == [False, True] and not daily["warmup"].all()
    assert daily.select("symbol", "ts", "gap", "warmup").equals(
        expected.select("symbol", "ts", "gap", "warmup")
    )
    for column in daily.columns:
        if daily[column].dtype.is_float():
            np.testing.assert_allclose(
                daily[column].to_numpy(), expected[column].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=column
            )
        else:
            assert daily[column].equals(expected[column]), column


def test_observed_validation_refuses_a_skipped_session_and_duplicates() -> None:
    bars = _observed_panel(60)
    required = {"close"}
    validate_bars(bars.lazy(), required, 1440, sessions="observed")  # a valid observed panel passes
    with pytest.raises(ValueError, match="complete 1440-minute grid"):
        validate_bars(bars.lazy(), required, 1440)  # continuous mode keeps its strict grid check
    # a symbol's row dropped on a day the other symbol traded: a silent bridge
    second_day = bars.filter(pl.col("symbol") == "SYM0USDT")["ts"][5]
    skipped = bars.filter(~((pl.col("symbol") == "SYM1USDT") & (pl.col("ts") == second_day)))
    with pytest.raises(ValueError, match="skip 1 sessions"):
        validate_bars(skipped.lazy(), required, 1440, sessions="observed")
    with pytest.raises(ValueError, match="duplicated"):
        validate_bars(pl.concat([bars, bars.head(1)]).lazy(), required, 1440, sessions="observed")
    off_grid = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.col("ts") + timedelta(hours=1)).otherwise(pl.col("ts"))
    )
    with pytest.raises(ValueError, match="not a multiple of 1440"):
        validate_bars(off_grid.lazy(), required, 1440, sessions="observed")
    with pytest.raises(ValueError, match="daily bars"):
        validate_bars(bars.lazy(), required, 60, sessions="observed")


def test_lookahead_audit_on_observed_sessions(observed_bars: pl.DataFrame) -> None:
    """The point-in-time audit runs on trading-day bars (``qp lookahead --sessions observed``): truncating the
    real panel at sampled days changes no past feature, while a planted read of the next session is caught."""
    from quant_platform.features import lookahead_cli
    from quant_platform.features.lookahead import lookahead_report, sample_cut_points

    cuts = sample_cut_points(observed_bars.filter(~pl.col("gap")), 3, seed=2)
    clean = lookahead_report(observed_bars, cuts, asset="features_v1", bar_minutes=1440, sessions="observed")
    assert clean.height == 0

    def leaky(frame: pl.DataFrame) -> pl.DataFrame:
        features = compute_features(frame, grid_minutes=1440, sessions="observed")
        return features.with_columns(pl.col("close").shift(-1).over("symbol").alias("next_close"))

    caught = lookahead_report(observed_bars, cuts, pipeline=leaky, keys=("symbol", "ts"))
    assert caught["column"].to_list() == ["next_close"]
    # the CLI takes the mode, and loads the history of the warm-up in trading days (more calendar days)
    parser = lookahead_cli.argparse.ArgumentParser(prog="qp")
    lookahead_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["lookahead", "--asset", "features_v1", "--partition", LAST_DAY, "--sessions", "observed"]
    )
    assert args.sessions == "observed"
    assert lookahead_cli.history_days("features_v1", 1440, "observed") > lookahead_cli.history_days(
        "features_v1", 1440
    )


def test_cli_audits_a_daily_partition_against_the_sessions_after_it(observed_bars, monkeypatch) -> None:
    """A daily partition is one bar stamp: the audit cuts at it and appends the following sessions (the future
    a lookahead would read), instead of sampling cut points inside the day."""
    from quant_platform.features import lookahead_cli
    from quant_platform.market.raw_window import RawWindow

    loaded = []
    from_source, extend_to = RawWindow.from_source.__func__, RawWindow.extend_to

    def recorded_from_source(cls, source, first_day, last_day, config=None):
        # The raw path as is, over the last four months only: cleaning the years of history the warm-up asks
        # for (2,457 days) would cost a minute; the window's days are what the assertions check.
        assert (config.interval_minutes, config.sessions) == (1440, "observed")
        loaded.append((first_day, last_day))
        recent = (date.fromisoformat(last_day) - timedelta(days=120)).isoformat()
        return from_source(cls, source, max(first_day, recent), last_day, config)

    def recorded_extend_to(self, source, last_day):
        loaded.append((self.days[-1], last_day))
        return extend_to(self, source, last_day)

    monkeypatch.setattr(RawWindow, "from_source", classmethod(recorded_from_source))
    monkeypatch.setattr(RawWindow, "extend_to", recorded_extend_to)
    options = {"path": str(need(STOCKS))}
    day = "2010-04-01"  # a Thursday before Good Friday: the next session is Monday 2010-04-05
    report = lookahead_cli.run_lookahead(
        "features_v1", day, "ohlcv_csv", bar_minutes=1440, sessions="observed", source_options=options
    )
    assert report.height == 0
    history = lookahead_cli.history_days("features_v1", 1440, "observed")
    first = (date.fromisoformat(day) - timedelta(days=history)).isoformat()
    assert loaded[:2] == [(first, day), (day, "2010-04-08")]  # the history, then the week after the day
    with pytest.raises(ValueError, match="no bars in the 7 days after"):
        lookahead_cli.run_lookahead(
            "features_v1",
            "2013-03-01",  # the file's last session
            "ohlcv_csv",
            bar_minutes=1440,
            sessions="observed",
            source_options=options,
        )
