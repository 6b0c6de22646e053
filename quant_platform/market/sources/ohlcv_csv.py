"""Generic OHLCV CSV files (equities, FX, any exchange export) as a market data source.

Layouts
- ``long`` (default): one row per (time, symbol). The symbol comes from a column
  (``columns.symbol``, default ``Ticker``) or, for a single-symbol file, from the ``symbol`` argument.
  Example ``stocks_daily_ohlcv.csv.gz``: ``Ticker,Date,Open,High,Low,Close,Volume,Adj Close``.
- ``wide``: one row per time, symbols spread over columns. A column named ``<SYM><sep><field>``
  (``sep`` = ``wide_separator``, default ``_``; field one of open/high/low/close/volume, any case) gives
  that field of ``SYM``; any other column except the time column is ``SYM``'s close. Volume may be absent
  (null); open, high and low may not.

Close-only input is refused when the source is read, naming the symbols and columns: ``bars_5m`` rows need a
candle (the engine fills at the next bar's open, range and spread features read high and low), candles are
never inferred from closes (O=H=L=C would be invented prices and zero ranges that look like data), and a
panel of closes would otherwise quarantine every bar as ``missing_price`` and leave the run empty. A
close-only panel needs its open, high and low columns from the vendor, or it is not market input here.

Columns are mapped with :class:`OhlcvColumns` (file header names). Time is parsed with ``time_format``
(chrono/polars syntax, e.g. ``%d.%m.%Y %H:%M:%S%.3f``; None infers ISO-8601, date-only → midnight) in
``time_zone`` (default UTC) and converted to ``Datetime("ms", "UTC")``. The stamp is the bar's open time,
so a daily bar of 2000-03-01 is stamped 2000-03-01 00:00 UTC.

``adjust="adj_close_ratio"``: open/high/low/close are multiplied by ``adj_close / close`` of the same row,
which removes splits (and dividends) from the price history, as is usual for the Quandl/Yahoo ``Adj Close``
column. Volume is left as reported. Where the ratio is undefined (close null or not positive, adj close
null) the row's prices are left unadjusted, so an invalid row still reaches cleaning as delivered.

What ``fetch`` returns: ``perp_bars`` = the day's bars at the file's native interval (columns the file lacks,
such as ``quote_volume``, ``trades``, ``taker_buy_*``, are null). ``spot_bars``, ``funding``,
``open_interest`` and ``liquidations`` are empty frames with the right schema: a plain OHLCV file has no
such data. The file is read and parsed once per instance, on first use. Malformed content (wrong field
count, non-numeric price, unparseable time, a configured column missing) raises a ValueError naming file
and line; rows are otherwise passed through as delivered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import polars as pl

from quant_platform.core.timeutil import parse_day
from quant_platform.market.sources import csvtext
from quant_platform.market.sources.tables import check_table, conform, empty_table

LAYOUTS = ("long", "wide")
ADJUSTMENTS = ("none", "adj_close_ratio", "splits")
LISTINGS = ("none", "observed")
PRICE_FIELDS = ("open", "high", "low", "close")
WIDE_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class OhlcvColumns:
    """Header names in the file. ``None`` means the file has no such column (values become null)."""

    time: str = "Date"
    symbol: str | None = "Ticker"
    open: str | None = "Open"
    high: str | None = "High"
    low: str | None = "Low"
    close: str = "Close"
    volume: str | None = "Volume"
    adj_close: str | None = "Adj Close"  # read only when adjust="adj_close_ratio"


def _close_only_message(path: str, absent: dict[str, list[str]]) -> str:
    shown = "; ".join(f"{sym}: no {', '.join(fields)}" for sym, fields in list(absent.items())[:5])
    more = f" (and {len(absent) - 5} more symbols)" if len(absent) > 5 else ""
    return (
        f"{path}: close-only (or candle-less) input is refused: {shown}{more}. Cleaned bars need open, high and "
        "low (next-bar-open fills, range features) and candles are never inferred from closes; supply the "
        "OHLC columns (wide: <SYM>_open, <SYM>_high, <SYM>_low, <SYM>_close)"
    )


class OhlcvCsvSource:
    """:class:`~quant_platform.market.sources.base.MarketDataSource` over one OHLCV CSV (``.csv``/``.gz``/``.zip``)."""

    def __init__(
        self,
        path: str | Path,
        layout: str = "long",
        *,
        columns: OhlcvColumns | Mapping[str, str | None] | None = None,
        symbol: str | None = None,
        symbols: Iterable[str] | None = None,
        time_format: str | None = None,
        time_zone: str = "UTC",
        adjust: str = "none",
        wide_separator: str = "_",
        separator: str = ",",
        name: str = "ohlcv_csv",
        listings: str = "none",
    ):
        self._path = Path(path)
        if not self._path.is_file():
            raise ValueError(f"OHLCV file {self._path} does not exist")
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if adjust not in ADJUSTMENTS:
            raise ValueError(f"adjust must be one of {ADJUSTMENTS}, got {adjust!r}")
        if adjust != "none" and layout != "long":
            raise ValueError(f"adjust={adjust!r} needs the long layout (one Adj Close column per row)")
        if listings not in LISTINGS:
            raise ValueError(f"listings must be one of {LISTINGS}, got {listings!r}")
        self._listings_mode = listings
        self._actions: pl.DataFrame | None = None
        self._layout = layout
        if isinstance(columns, Mapping):
            unknown = sorted(set(columns) - {f.name for f in fields(OhlcvColumns)})
            if unknown:
                raise ValueError(f"unknown OHLCV column roles {unknown}")
            columns = OhlcvColumns(**columns)
        self._columns = columns or OhlcvColumns()
        if layout == "long":
            absent = [f for f in ("open", "high", "low") if getattr(self._columns, f) is None]
            if absent:
                raise ValueError(_close_only_message(str(self._path), {"(every symbol)": absent}))
        self._symbol = symbol
        self._wanted = tuple(symbols) if symbols is not None else None
        self._time_format = time_format
        self._time_zone = time_zone
        self._adjust = adjust
        self._wide_separator = wide_separator
        self._separator = separator
        self._name = name
        self._by_day: dict[str, pl.DataFrame] | None = None
        self._symbols: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def symbols(self) -> tuple[str, ...]:
        self._load()
        assert self._symbols is not None
        return self._symbols

    @property
    def bars(self) -> pl.DataFrame:
        """Every parsed bar of the file (RawBars layout, file order), for inspection."""
        self._load()
        assert self._by_day is not None
        frames = list(self._by_day.values())
        return pl.concat(frames) if frames else empty_table("perp_bars")

    # ---- parsing -------------------------------------------------------------------------------------
    def _read_strings(self) -> tuple[pl.DataFrame, list[str]]:
        source = str(self._path)
        lines = csvtext.split_lines(csvtext.read_text(self._path), separator=self._separator)
        header = csvtext.first_fields(lines)
        if header is None:
            raise ValueError(f"{source}: empty file (no header line)")
        duplicated = sorted({h for h in header if header.count(h) > 1})
        if duplicated:
            raise ValueError(f"{source}: line 1: duplicated header names {duplicated}")
        return csvtext.to_columns(lines.slice(1), header, source=source), header

    def _require(self, header: list[str], wanted: list[str]) -> None:
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ValueError(f"{self._path}: line 1: columns {missing} not in header {header}")

    def _parse(self, raw: pl.DataFrame, numeric: list[str], time_col: str) -> pl.DataFrame:
        """Type the file's own columns (so errors name the header the user sees)."""
        source = str(self._path)
        raw = csvtext.parse_numbers(raw, dict.fromkeys(numeric, pl.Float64()), source=source)
        return csvtext.parse_datetime_text(
            raw, time_col, self._time_format, source=source, tz=self._time_zone
        )

    def _long(self, raw: pl.DataFrame, header: list[str]) -> pl.DataFrame:
        cols = self._columns
        mapping = {
            "open": cols.open,
            "high": cols.high,
            "low": cols.low,
            "close": cols.close,
            "volume": cols.volume,
        }
        if self._adjust != "none":
            if cols.adj_close is None:
                raise ValueError(f"adjust={self._adjust!r} needs columns.adj_close")
            mapping["adj_close"] = cols.adj_close
        elif cols.adj_close is not None and cols.adj_close in header:
            mapping["adj_close"] = cols.adj_close  # read for corporate_actions(), prices stay as delivered
        if self._symbol is None and cols.symbol is None:
            raise ValueError("a long file needs columns.symbol or a fixed symbol=")
        symbol_col = cols.symbol if self._symbol is None else None
        used = [c for c in [cols.time, symbol_col, *mapping.values()] if c is not None]
        self._require(header, used)
        raw = self._parse(raw, [c for c in mapping.values() if c is not None], cols.time)
        frame = raw.select(
            csvtext.LINE_NO,
            pl.col(cols.time).alias("ts"),
            (pl.lit(self._symbol) if symbol_col is None else pl.col(symbol_col)).alias("symbol"),
            *(
                (pl.col(src) if src is not None else pl.lit(None, dtype=pl.Float64)).alias(dst)
                for dst, src in mapping.items()
            ),
        )
        return frame

    def _wide(self, raw: pl.DataFrame, header: list[str]) -> pl.DataFrame:
        time_col = self._columns.time
        self._require(header, [time_col])
        field_re = re.compile(
            rf"^(.+){re.escape(self._wide_separator)}({'|'.join(WIDE_FIELDS)})$", re.IGNORECASE
        )
        by_symbol: dict[str, dict[str, str]] = {}
        for column in header:
            if column == time_col:
                continue
            match = field_re.match(column)
            sym, field = (match.group(1), match.group(2).lower()) if match else (column, "close")
            if field in by_symbol.setdefault(sym, {}):
                raise ValueError(f"{self._path}: line 1: two columns give {sym}'s {field}")
            by_symbol[sym][field] = column
        if not by_symbol:
            raise ValueError(f"{self._path}: line 1: no symbol columns besides {time_col!r}")
        candle_less = {
            sym: [f for f in ("open", "high", "low") if f not in cols]
            for sym, cols in by_symbol.items()
            if not {"open", "high", "low"} <= cols.keys()
        }
        if candle_less:
            raise ValueError(_close_only_message(str(self._path), candle_less))
        raw = self._parse(raw, [c for c in header if c != time_col], time_col)
        return pl.concat(
            raw.select(
                csvtext.LINE_NO,
                pl.col(time_col).alias("ts"),
                pl.lit(sym).alias("symbol"),
                *(
                    pl.col(field_columns[f]).alias(f)
                    if f in field_columns
                    else pl.lit(None, pl.Float64).alias(f)
                    for f in WIDE_FIELDS
                ),
            )
            for sym, field_columns in by_symbol.items()
        )

    def _load(self) -> None:
        if self._by_day is not None:
            return
        source = str(self._path)
        raw, header = self._read_strings()
        frame = self._long(raw, header) if self._layout == "long" else self._wide(raw, header)
        if "adj_close" in frame.columns:
            from quant_platform.market.corporate_actions import actions_from_adj_close

            self._actions = actions_from_adj_close(frame.filter(pl.col("symbol").is_not_null()))
        if self._adjust == "splits":
            frame = _split_adjusted(frame, self._actions)
        if self._adjust == "adj_close_ratio":
            ratio = pl.col("adj_close") / pl.col("close")
            defined = (pl.col("close") > 0) & pl.col("adj_close").is_not_null()
            frame = frame.with_columns(
                pl.when(defined).then(pl.col(c) * ratio).otherwise(pl.col(c)).alias(c) for c in PRICE_FIELDS
            )
        file_symbols = frame["symbol"].unique(maintain_order=True).to_list()
        if self._wanted is not None:
            unknown = sorted(set(self._wanted) - set(file_symbols))
            if unknown:
                raise ValueError(
                    f"{source}: symbols {unknown} not in the file (it has {sorted(file_symbols)})"
                )
            frame = frame.filter(pl.col("symbol").is_in(self._wanted))
            self._symbols = self._wanted
        else:
            self._symbols = tuple(sorted(s for s in file_symbols if s is not None))
        missing_symbol = frame.filter(pl.col("symbol").is_null() | (pl.col("symbol") == ""))
        if missing_symbol.height:
            raise ValueError(f"{source}: line {missing_symbol[csvtext.LINE_NO][0]}: empty symbol")
        frame = frame.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(c)
            for c in ("quote_volume", "taker_buy_volume", "taker_buy_quote_volume")
        ).with_columns(pl.lit(None, dtype=pl.Int64).alias("trades"))
        days = frame.select(pl.col("ts").dt.date().cast(pl.String).alias("day"))["day"]
        bars = conform("perp_bars", frame).with_columns(days)
        self._by_day = {
            key[0]: part.drop("day")
            for key, part in bars.partition_by("day", as_dict=True, maintain_order=True).items()
        }

    def covered(self, table: str, day: str) -> tuple[str, ...]:
        """Symbols whose ``table`` the file holds: every symbol for ``perp_bars``, none for the tables a
        plain OHLCV file does not have (their values are unknown, never zero)."""
        check_table(table)
        return self.symbols if table == "perp_bars" else ()

    def looked_for(self, table: str, symbol: str, day: str) -> list[str]:
        """Where rows of (table, symbol, day) were looked for: the file."""
        check_table(table)
        return [f"{self._path} (rows of {symbol} stamped {parse_day(day).isoformat()})"]

    def corporate_actions(self) -> pl.DataFrame:
        """Splits and dividends derived from the file's Adj Close column
        (:func:`~quant_platform.market.corporate_actions.actions_from_adj_close`), for the symbols read."""
        self._load()
        if self._actions is None:
            raise ValueError(
                f"{self._path}: no Adj Close column ({self._columns.adj_close!r}) to derive actions from"
            )
        symbols = self._symbols or ()
        return self._actions.filter(pl.col("symbol").is_in(symbols))

    def listings(self) -> pl.DataFrame | None:
        """With ``listings="observed"``: each symbol listed on its first bar and delisted on its last when that is
        before the file's last day (:func:`~quant_platform.market.universe.listings_from_bars`); the market layer
        then grids each day's members only. None otherwise (every symbol is a member every day)."""
        if self._listings_mode == "none":
            return None
        from quant_platform.market.universe import listings_from_bars

        return listings_from_bars(self.bars)

    def fetch(self, table: str, day: str) -> pl.DataFrame:
        """``perp_bars``: the file's bars with ``ts`` on ``day``; every other raw table: empty (no such data)."""
        check_table(table)
        day = parse_day(day).isoformat()
        if table != "perp_bars":
            return empty_table(table)
        self._load()
        assert self._by_day is not None
        return self._by_day[day].clone() if day in self._by_day else empty_table(table)


def _split_adjusted(frame: pl.DataFrame, actions: pl.DataFrame | None) -> pl.DataFrame:
    """OHLC times the product of the symbol's split ratios with ex-date on or before the bar, volume divided by
    it: prices and share counts of the symbol's first day, using only splits already known at the bar (forward
    adjustment, point in time; dividends are left to the total-return index)."""
    if actions is None:
        raise ValueError("adjust='splits' needs the Adj Close column to derive the splits from")
    splits = actions.filter(pl.col("action") == "split").select(
        "symbol", pl.col("ex_date").alias("_day"), pl.col("ratio").alias("_ratio")
    )
    factor = (
        frame.select("symbol", "ts", csvtext.LINE_NO)
        .with_columns(pl.col("ts").dt.date().alias("_day"))
        .join(splits, on=["symbol", "_day"], how="left")
        .sort("symbol", "ts", csvtext.LINE_NO)
        .with_columns(pl.col("_ratio").fill_null(1.0).cum_prod().over("symbol").alias("_factor"))
        .select(csvtext.LINE_NO, "_factor")
    )
    adjusted = frame.join(factor, on=csvtext.LINE_NO, how="left", maintain_order="left")
    return adjusted.with_columns(
        *(pl.col(c) * pl.col("_factor") for c in PRICE_FIELDS), pl.col("volume") / pl.col("_factor")
    ).drop("_factor")
