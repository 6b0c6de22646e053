"""Synthetic external information over a synthetic market, with documented planted effects.

Given bars (``symbol, ts, open``), deterministic from a seed:
- **the informed caller** (``informed_caller``): alerts on random bars whose side matches the sign of the
  forward return a trade entered at the next bar's open and held ``horizon_bars`` earns, with probability
  ``hit_rate``. Published inside the alert's bar and ingested seconds later, so it is available before the bar
  closes: a real, point-in-time edge.
- **noise callers** (``noise_callers``): alerts on random bars with random sides.
- **the front-runner** (``frontrunner``): always on the right side, but its alerts are stamped with a publish
  time at the start of the move while we only receive them after the move is over (``ingested_at`` = the exit
  bar). Used at ``available_at`` it has no edge; a pipeline that trusted the publish stamp would see a perfect
  caller. The point-in-time audit must catch that bug.
- re-posted alerts (same caller, symbol and side minutes later, another message id), news items carried by
  two feeds with slightly different wording (near-duplicates), a malformed line and a future-dated item (to
  be quarantined), and one macro release a day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from quant_platform.external.schemas import RAW_SCHEMA

_NAMES = {"BTCUSDT": "Bitcoin", "ETHUSDT": "Ethereum", "SOLUSDT": "Solana", "BNBUSDT": "BNB"}
_HEADLINES = (
    "{name} traders brace as funding turns",
    "{name} sees heavy flows on major exchanges",
    "Analysts split on the outlook for {name} this week",
    "{name} network activity hits a monthly high",
)


@dataclass(frozen=True)
class SyntheticExternalConfig:
    seed: int = 7
    informed_caller: str = "caller_informed"
    noise_callers: tuple[str, ...] = ("caller_noise_1", "caller_noise_2", "caller_noise_3", "caller_noise_4")
    frontrunner: str = "caller_frontrun"
    alerts_per_caller_per_day: float = 4.0
    horizon_bars: int = 12
    hit_rate: float = 0.8
    repost_probability: float = 0.2
    news_per_day: float = 6.0
    macro_series: str = "CPI_MOM"


def _record(source: str, origin: str, ingested, payload: dict) -> dict:
    return {"source": source, "origin": origin, "ingested_at": ingested, "payload_json": json.dumps(payload)}


def synthetic_external(bars: pl.DataFrame, config: SyntheticExternalConfig | None = None) -> pl.DataFrame:
    """Raw external records (``RAW_SCHEMA``) for ``bars`` (module docstring)."""
    config = config or SyntheticExternalConfig()
    rng = np.random.default_rng(config.seed)
    # only bars with a price: gap rows (open null) can neither anchor an alert nor price its move
    frame = bars.select("symbol", "ts", "open").filter(pl.col("open").is_not_null()).sort("symbol", "ts")
    symbols = frame["symbol"].unique(maintain_order=True).to_list()
    by_symbol = {s: frame.filter(pl.col("symbol") == s) for s in symbols}
    ts_all = frame["ts"]
    n_days = max(1, (ts_all.max() - ts_all.min()).days + 1)  # type: ignore[operator]
    h = config.horizon_bars
    rows: list[dict] = []
    counter = 0
    # record ids carry the window's first day: a generator run per day must not reuse another day's ids
    tag = ts_all.min().date().isoformat()  # type: ignore[union-attr]

    def alert(caller: str, symbol: str, i: int, side: int, published, ingested) -> None:
        nonlocal counter
        counter += 1
        payload = {
            "message_id": f"{tag}-m{counter}",
            "caller_id": caller,
            "symbol": symbol,
            "side": "long" if side > 0 else "short",
            "time": published.isoformat(),
            "ingested_at": ingested.isoformat(),
        }
        rows.append(_record("caller_channel", f"synthetic:alert:{counter}", ingested, payload))

    callers = [config.informed_caller, *config.noise_callers, config.frontrunner]
    for caller in callers:
        n_alerts = rng.poisson(config.alerts_per_caller_per_day * n_days)
        for _ in range(n_alerts):
            symbol = symbols[rng.integers(len(symbols))]
            series = by_symbol[symbol]
            if series.height < h + 3:
                continue
            i = int(rng.integers(0, series.height - h - 2))
            entry, exit_ = series["open"][i + 1], series["open"][i + 1 + h]
            move = 1 if exit_ >= entry else -1
            bar_open = series["ts"][i]
            published = bar_open + timedelta(seconds=float(rng.uniform(0, 200)))
            ingested = published + timedelta(seconds=float(rng.uniform(2, 60)))
            if caller == config.informed_caller:
                side = move if rng.random() < config.hit_rate else -move
            elif caller == config.frontrunner:
                side, ingested = move, series["ts"][i + 1 + h] + timedelta(seconds=float(rng.uniform(2, 60)))
            else:
                side = 1 if rng.random() < 0.5 else -1
            alert(caller, symbol, i, side, published, ingested)
            if caller != config.frontrunner and rng.random() < config.repost_probability:
                later = timedelta(minutes=float(rng.uniform(5, 30)))
                alert(caller, symbol, i, side, published + later, ingested + later)

    for n in range(rng.poisson(config.news_per_day * n_days)):
        symbol = symbols[rng.integers(len(symbols))]
        series = by_symbol[symbol]
        i = int(rng.integers(0, series.height))
        published = series["ts"][i] + timedelta(seconds=float(rng.uniform(0, 299)))
        headline = _HEADLINES[rng.integers(len(_HEADLINES))].format(name=_NAMES.get(symbol, symbol))
        tone = float(np.round(rng.normal(0, 2), 2))
        wire_in = published + timedelta(seconds=float(rng.uniform(1, 30)))
        rows.append(
            _record(
                "newswire",
                f"synthetic:news:{n}",
                wire_in,
                {
                    "id": f"{tag}-wire-{n}",
                    "headline": headline,
                    "published": published.isoformat(),
                    "entities": [symbol],
                    "tone": tone,
                    "ingested_at": wire_in.isoformat(),
                },
            )
        )
        if rng.random() < 0.5:  # the same story from a second, lower-tier feed
            doc_in = published + timedelta(seconds=float(rng.uniform(60, 900)))
            rows.append(
                _record(
                    "doc_search",
                    f"synthetic:doc:{n}",
                    doc_in,
                    {
                        "id": f"{tag}-doc-{n}",
                        "headline": headline + " - report",
                        "published": published.isoformat(),
                        "tone": tone,
                        "ingested_at": doc_in.isoformat(),
                    },
                )
            )

    first_day = ts_all.min().date()  # type: ignore[union-attr]
    previous = 0.2
    for d in range(n_days):
        release = pl.Series([first_day]).dt.combine(pl.time(13, 30)).dt.replace_time_zone("UTC")[
            0
        ] + timedelta(days=d)
        value = float(np.round(previous + rng.normal(0, 0.1), 2))
        ingested = release + timedelta(seconds=float(rng.uniform(1, 20)))
        rows.append(
            _record(
                "macro_series",
                f"synthetic:macro:{d}",
                ingested,
                {
                    "id": f"{config.macro_series}:{tag}:{d}",
                    "series_id": config.macro_series,
                    "period": (first_day + timedelta(days=d)).isoformat(),
                    "value": value,
                    "prior": previous,
                    "release_time": release.isoformat(),
                    "ingested_at": ingested.isoformat(),
                },
            )
        )
        previous = value

    start = ts_all.min()
    rows.append(_record("newswire", "synthetic:bad:json", start, {}) | {"payload_json": "{not json"})
    rows.append(
        _record(
            "newswire",
            "synthetic:bad:future",
            start,
            {
                "id": "future-1",
                "headline": "Bitcoin news from tomorrow",
                "published": (start + timedelta(days=1)).isoformat(),
                "entities": ["BTCUSDT"],
            },
        )
    )
    return pl.DataFrame(rows, schema=RAW_SCHEMA).sort("ingested_at", "origin")
