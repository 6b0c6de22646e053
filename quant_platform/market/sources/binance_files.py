"""Binance public data dumps (data.binance.vision) read from a local mirror.

Expected layout under ``root`` (the ``data/`` folder of the public bucket, same relative paths)::

    <root>/spot/daily/klines/<SYM>/1m/<SYM>-1m-<YYYY-MM-DD>.zip               spot 1m klines (daily)
    <root>/spot/monthly/klines/<SYM>/1m/<SYM>-1m-<YYYY-MM>.zip                spot 1m klines (monthly)
    <root>/futures/<um|cm>/daily/klines/<SYM>/1m/<SYM>-1m-<YYYY-MM-DD>.zip    perp 1m klines (daily)
    <root>/futures/<um|cm>/monthly/klines/<SYM>/1m/<SYM>-1m-<YYYY-MM>.zip     perp 1m klines (monthly)
    <root>/futures/<um|cm>/monthly/fundingRate/<SYM>/<SYM>-fundingRate-<YYYY-MM>.zip
    <root>/futures/<um|cm>/daily/metrics/<SYM>/<SYM>-metrics-<YYYY-MM-DD>.zip
    <root>/futures/<um|cm>/daily/liquidationSnapshot/<SYM>/<SYM>-liquidationSnapshot-<YYYY-MM-DD>.zip

Each file may be a ``.zip`` holding one CSV (as published) or the bare ``.csv``; the zip wins if both exist.
For klines the daily file is used when present, else the monthly file of that month. A header row is
optional (Binance added headers over time): it is recognised when the first field is a bare word, and its
names must then equal the documented column names. Epoch timestamps may be milliseconds or microseconds
(spot klines switched to microseconds in 2025); the unit is detected per file and converted to ms.
``metrics.create_time`` is a ``YYYY-MM-DD HH:MM:SS`` UTC string (epoch numbers are accepted too).

What is returned, per the raw schemas:
- klines → :class:`RawBars` (``count`` → ``trades``; ``close_time`` and ``ignore`` are not kept);
- fundingRate → :class:`RawFunding` (``last_funding_rate`` at ``calc_time``; the dump has no mark price → null);
- metrics → :class:`RawOpenInterest` (``sum_open_interest``, ``sum_open_interest_value`` at ``create_time``);
- liquidationSnapshot → :class:`RawLiquidations` (``average_price``, ``accumulated_fill_quantity`` and their
  product as notional: what was actually filled).

Rows are passed through as delivered: a daily file's rows are all returned even if a stamp falls outside
the day (cleaning quarantines those); a monthly file is the selection of that month, so only rows whose
``ts`` falls on the requested day are returned. A missing file is not an error: that symbol contributes no
rows and a :class:`MissingFile` is appended to :attr:`BinanceFilesSource.missing_files` (also in
:meth:`BinanceFilesSource.health`); :meth:`BinanceFilesSource.covered` says which symbols have a file for a
(table, day), so cleaning can tell "no liquidations" (a file without rows: zero) from "unknown" (no file:
null), and :meth:`BinanceFilesSource.looked_for` lists the paths tried, for the error that a symbol without
bars raises in the Dagster layer. A missing ``root`` directory is an error at construction.

Malformed content (wrong field count, non-numeric text, unexpected header) raises a ValueError naming file
and line (``unparseable_lines="fail"``, the default). With ``unparseable_lines="quarantine"`` a line that
cannot be read (wrong field count, text where a number or time belongs, an empty timestamp) is left out
and kept in :meth:`BinanceFilesSource.rejected_lines` (file, line number, reason, text) for cleaning to put
in ``quarantined_rows``; file-level defects (an unexpected header, mixed epoch units) still raise. A
rejected line of a daily file belongs to that day; one of a monthly file to the day of its timestamp, and
a monthly line whose timestamp cannot be read either cannot be placed in any day, so it still raises.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from quant_platform.core.timeutil import MS_PER_DAY, day_bounds, parse_day
from quant_platform.market.sources import csvtext
from quant_platform.market.sources.binance_layout import KLINE_COLUMNS, KLINE_FLOAT_COLUMNS
from quant_platform.market.sources.tables import check_table, conform, empty_table

FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")
METRICS_COLUMNS = (
    "create_time",
    "symbol",
    "sum_open_interest",
    "sum_open_interest_value",
    "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio",
    "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)
LIQUIDATION_COLUMNS = (
    "time",
    "side",
    "order_type",
    "time_in_force",
    "original_quantity",
    "price",
    "average_price",
    "order_status",
    "last_fill_quantity",
    "accumulated_fill_quantity",
)
METRICS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MARKETS = ("um", "cm")
UNPARSEABLE_MODES = ("fail", "quarantine")
_HEADER_WORD = re.compile(r"^[A-Za-z_][A-Za-z_ ]*$")
_MONTHLY_CACHE_SIZE = 16


@dataclass(frozen=True)
class MissingFile:
    """A (table, symbol, day) for which no dump file exists; ``tried`` lists the paths looked at."""

    table: str
    symbol: str
    day: str
    tried: tuple[str, ...]
    reason: str = "file not found"


def _split_with_header(
    path: Path, columns: tuple[str, ...], rejects: csvtext.LineRejects | None = None
) -> pl.DataFrame:
    source = str(path)
    lines = csvtext.split_lines(csvtext.read_text(path))
    if rejects is not None:
        rejects.split = lines
    first = csvtext.first_fields(lines)
    if first is not None and _HEADER_WORD.match(first[0]):
        if [f.lower() for f in first] != list(columns):
            raise ValueError(f"{source}: line 1: unexpected header {first}; expected {list(columns)}")
        lines = lines.slice(1)
    return csvtext.to_columns(lines, columns, source=source, rejects=rejects)


def parse_klines(path: Path, symbol: str, rejects: csvtext.LineRejects | None = None) -> pl.DataFrame:
    """A klines dump file → :class:`RawBars` rows (all of them, in file order)."""
    source = str(path)
    frame = _split_with_header(path, KLINE_COLUMNS, rejects)
    floats = KLINE_FLOAT_COLUMNS
    frame = csvtext.parse_numbers(
        frame, {c: pl.Float64() for c in floats} | {"count": pl.Int64()}, source=source, rejects=rejects
    )
    frame = csvtext.parse_epoch(frame, "open_time", source=source, rejects=rejects)
    return conform(
        "perp_bars",
        frame.with_columns(
            pl.lit(symbol).alias("symbol"), pl.col("open_time").alias("ts"), pl.col("count").alias("trades")
        ),
    )


def parse_funding(path: Path, symbol: str, rejects: csvtext.LineRejects | None = None) -> pl.DataFrame:
    """A fundingRate dump file → :class:`RawFunding` rows (mark price is not in the dump: null)."""
    source = str(path)
    frame = _split_with_header(path, FUNDING_COLUMNS, rejects)
    frame = csvtext.parse_numbers(
        frame,
        {"funding_interval_hours": pl.Float64(), "last_funding_rate": pl.Float64()},
        source=source,
        rejects=rejects,
    )
    frame = csvtext.parse_epoch(frame, "calc_time", source=source, rejects=rejects)
    return conform(
        "funding",
        frame.with_columns(
            pl.lit(symbol).alias("symbol"),
            pl.col("calc_time").alias("ts"),
            pl.col("last_funding_rate").alias("funding_rate"),
            pl.lit(None, dtype=pl.Float64).alias("mark_price"),
        ),
    )


def parse_metrics(path: Path, symbol: str, rejects: csvtext.LineRejects | None = None) -> pl.DataFrame:
    """A metrics dump file → :class:`RawOpenInterest` rows. A row naming another symbol is an error."""
    source = str(path)
    frame = _split_with_header(path, METRICS_COLUMNS, rejects)
    other = frame.filter(pl.col("symbol") != symbol)
    if other.height:
        row = other.row(0, named=True)
        raise ValueError(
            f"{source}: line {row[csvtext.LINE_NO]}: symbol {row['symbol']!r} in a file of {symbol!r}"
        )
    frame = csvtext.parse_numbers(
        frame,
        {"sum_open_interest": pl.Float64(), "sum_open_interest_value": pl.Float64()},
        source=source,
        rejects=rejects,
    )
    all_digits = frame.select(pl.col("create_time").str.contains(r"^\d+$").all()).item()
    if all_digits and frame.height:
        frame = csvtext.parse_epoch(frame, "create_time", source=source, rejects=rejects)
    else:
        frame = csvtext.parse_datetime_text(
            frame, "create_time", METRICS_TIME_FORMAT, source=source, rejects=rejects
        )
    return conform(
        "open_interest",
        frame.with_columns(
            pl.lit(symbol).alias("symbol"),
            pl.col("create_time").alias("ts"),
            pl.col("sum_open_interest").alias("open_interest"),
            pl.col("sum_open_interest_value").alias("open_interest_value"),
        ),
    )


def parse_liquidations(path: Path, symbol: str, rejects: csvtext.LineRejects | None = None) -> pl.DataFrame:
    """A liquidationSnapshot dump file → :class:`RawLiquidations` rows (filled price × filled quantity)."""
    source = str(path)
    frame = _split_with_header(path, LIQUIDATION_COLUMNS, rejects)
    frame = csvtext.parse_numbers(
        frame,
        {"average_price": pl.Float64(), "accumulated_fill_quantity": pl.Float64()},
        source=source,
        rejects=rejects,
    )
    frame = csvtext.parse_epoch(frame, "time", source=source, rejects=rejects)
    return conform(
        "liquidations",
        frame.with_columns(
            pl.lit(symbol).alias("symbol"),
            pl.col("time").alias("ts"),
            pl.col("average_price").alias("price"),
            pl.col("accumulated_fill_quantity").alias("qty"),
            (pl.col("average_price") * pl.col("accumulated_fill_quantity")).alias("notional"),
        ),
    )


@dataclass(frozen=True)
class _Dataset:
    """Where one raw table lives in the dump tree and how to parse it."""

    parser: Callable[..., pl.DataFrame]
    daily: str | None  # relative path template with {sym} and {day}, or None
    monthly: str | None  # relative path template with {sym} and {month}, or None


class BinanceFilesSource:
    """:class:`~quant_platform.market.sources.base.MarketDataSource` over a local data.binance.vision mirror."""

    def __init__(
        self,
        root: str | Path,
        symbols: Iterable[str],
        market: str = "um",
        *,
        spot_symbols: Mapping[str, str] | None = None,
        name: str = "binance_files",
        unparseable_lines: str = "fail",
    ):
        """``spot_symbols`` maps a universe (perp) symbol to its spot pair where they differ
        (``{"1000PEPEUSDT": "PEPEUSDT"}``); spot rows are returned under the universe symbol.
        ``unparseable_lines``: ``"fail"`` (raise naming file and line) or ``"quarantine"`` (see the module
        docstring)."""
        if unparseable_lines not in UNPARSEABLE_MODES:
            raise ValueError(
                f"unparseable_lines must be one of {UNPARSEABLE_MODES}, got {unparseable_lines!r}"
            )
        self._quarantine = unparseable_lines == "quarantine"
        self._root = Path(root)
        if not self._root.is_dir():
            raise ValueError(f"Binance dump root {self._root} is not a directory")
        if market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}, got {market!r}")
        self._symbols = tuple(symbols)
        if not self._symbols:
            raise ValueError("BinanceFilesSource needs at least one symbol")
        self._market = market
        self._spot_symbols = dict(spot_symbols or {})
        self._name = name
        futures = f"futures/{market}"
        self._datasets = {
            "perp_bars": _Dataset(
                parse_klines,
                futures + "/daily/klines/{sym}/1m/{sym}-1m-{day}",
                futures + "/monthly/klines/{sym}/1m/{sym}-1m-{month}",
            ),
            "spot_bars": _Dataset(
                parse_klines,
                "spot/daily/klines/{sym}/1m/{sym}-1m-{day}",
                "spot/monthly/klines/{sym}/1m/{sym}-1m-{month}",
            ),
            "funding": _Dataset(
                parse_funding, None, futures + "/monthly/fundingRate/{sym}/{sym}-fundingRate-{month}"
            ),
            "open_interest": _Dataset(
                parse_metrics, futures + "/daily/metrics/{sym}/{sym}-metrics-{day}", None
            ),
            "liquidations": _Dataset(
                parse_liquidations,
                futures + "/daily/liquidationSnapshot/{sym}/{sym}-liquidationSnapshot-{day}",
                None,
            ),
        }
        self._monthly_cache: OrderedDict[Path, tuple[pl.DataFrame, list[RejectedLine]]] = OrderedDict()
        self._rejected: dict[tuple[str, str], list[RejectedLine]] = {}
        self.missing_files: list[MissingFile] = []
        self._files_read = 0
        self._empty = 0  # (table, symbol, day) answered by a file that holds no rows for the day
        self._rows: dict[str, int] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def root(self) -> Path:
        return self._root

    def _existing(self, template: str, **fields: str) -> tuple[Path | None, list[str]]:
        base = self._root / template.format(**fields)
        tried = [str(base.with_name(base.name + ext)) for ext in (".zip", ".csv")]
        for candidate in tried:
            if Path(candidate).is_file():
                return Path(candidate), tried
        return None, tried

    def _parse(
        self, table: str, path: Path, symbol: str, day: str | None
    ) -> tuple[pl.DataFrame, list[RejectedLine]]:
        """Parse one file; in quarantine mode also its rejected lines (``day``: a daily file's day, None for
        a monthly file, whose lines are placed by their own timestamps)."""
        if not self._quarantine:
            return self._datasets[table].parser(path, symbol), []
        rejects = csvtext.LineRejects(str(path))
        frame = self._datasets[table].parser(path, symbol, rejects)
        texts = rejects.texts()
        lines = []
        for line_no, why in rejects.lines:
            text = texts.get(line_no, "")
            placed = day or _day_of_line(text)
            if placed is None:
                raise ValueError(
                    f"{path}: line {line_no}: {why}; a monthly file's line without a readable time cannot be "
                    "placed in a day, so it cannot be quarantined"
                )
            lines.append(RejectedLine(table, symbol, placed, str(path), line_no, why, text))
        return frame, lines

    def _monthly(self, table: str, path: Path, symbol: str) -> tuple[pl.DataFrame, list[RejectedLine]]:
        if path not in self._monthly_cache:
            self._monthly_cache[path] = self._parse(table, path, symbol, None)
            self._files_read += 1
            if len(self._monthly_cache) > _MONTHLY_CACHE_SIZE:
                self._monthly_cache.popitem(last=False)
        self._monthly_cache.move_to_end(path)
        return self._monthly_cache[path]

    def _candidates(self, table: str, symbol: str, day: str) -> list[str]:
        """Every path looked at for (table, symbol, day), daily file first, in the order they are tried."""
        dataset = self._datasets[table]
        file_symbol = self._spot_symbols.get(symbol, symbol) if table == "spot_bars" else symbol
        tried: list[str] = []
        if dataset.daily is not None:
            tried += self._existing(dataset.daily, sym=file_symbol, day=day)[1]
        if dataset.monthly is not None:
            tried += self._existing(dataset.monthly, sym=file_symbol, month=day[:7])[1]
        return tried

    def _fetch_symbol(self, table: str, symbol: str, day: str) -> pl.DataFrame | None:
        dataset = self._datasets[table]
        file_symbol = self._spot_symbols.get(symbol, symbol) if table == "spot_bars" else symbol
        tried: list[str] = []
        rejected = self._rejected[(table, day)]
        if dataset.daily is not None:
            path, looked = self._existing(dataset.daily, sym=file_symbol, day=day)
            tried += looked
            if path is not None:
                self._files_read += 1
                frame, lines = self._parse(table, path, symbol, day)
                rejected += lines
                return frame
        if dataset.monthly is not None:
            path, looked = self._existing(dataset.monthly, sym=file_symbol, month=day[:7])
            tried += looked
            if path is not None:
                start, end = day_bounds(day)
                month, lines = self._monthly(table, path, symbol)
                rejected += [line for line in lines if line.day == day]
                return month.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
        self.missing_files.append(MissingFile(table, symbol, day, tuple(tried)))
        return None

    def fetch(self, table: str, day: str) -> pl.DataFrame:
        """Raw rows of ``table`` for UTC ``day`` for every symbol (see the module docstring for the rules)."""
        check_table(table)
        day = parse_day(day).isoformat()
        self._rejected[(table, day)] = []
        frames = [f for sym in self._symbols if (f := self._fetch_symbol(table, sym, day)) is not None]
        self._empty += sum(1 for f in frames if f.height == 0)
        frame = pl.concat(frames, how="vertical") if frames else empty_table(table)
        self._rows[table] = self._rows.get(table, 0) + frame.height
        return frame

    def covered(self, table: str, day: str) -> tuple[str, ...]:
        """The universe symbols for which a file of ``table`` covering ``day`` exists (its rows, possibly none,
        are then the whole truth for the day); a symbol without one has unknown data, not zero rows."""
        check_table(table)
        day = parse_day(day).isoformat()
        return tuple(
            sym for sym in self._symbols if any(Path(p).is_file() for p in self._candidates(table, sym, day))
        )

    def looked_for(self, table: str, symbol: str, day: str) -> list[str]:
        """Each path tried for (table, symbol, day) with what was there: ``not found``, its size, or
        ``0 bytes``; for the error that names what a symbol without rows was looked up as."""
        check_table(table)
        day = parse_day(day).isoformat()
        described = []
        for candidate in self._candidates(table, symbol, day):
            path = Path(candidate)
            described.append(f"{path} ({f'{path.stat().st_size} bytes' if path.is_file() else 'not found'})")
        return described

    def rejected_lines(self, table: str, day: str) -> list[RejectedLine]:
        """Lines of ``table``'s files for ``day`` left out as unparseable (quarantine mode; always empty in
        fail mode). Reads the files first if ``day`` was not fetched by this instance yet."""
        check_table(table)
        day = parse_day(day).isoformat()
        if not self._quarantine:
            return []
        if (table, day) not in self._rejected:
            self.fetch(table, day)
        return list(self._rejected[(table, day)])

    def health(self) -> dict[str, object]:
        """Counters since construction: files read, empty answers, rows per table, every missing file and
        every line quarantined as unparseable."""
        return {
            "source": self._name,
            "root": str(self._root),
            "files_read": self._files_read,
            "files_missing": len(self.missing_files),
            "empty": self._empty,
            "rows": dict(self._rows),
            "missing_files": [asdict(m) for m in self.missing_files],
            "unparseable_lines": sum(len(v) for v in self._rejected.values()),
        }


@dataclass(frozen=True)
class RejectedLine:
    """A line of a dump file that could not be parsed (quarantine mode): where it is, why, and its text."""

    table: str
    symbol: str
    day: str
    file: str
    line: int
    reason: str
    text: str


def _day_of_line(text: str) -> str | None:
    """The UTC day of a dump line's first field read as epoch ms (or µs), None when it is not one."""
    first = text.split(",", 1)[0].strip().strip('"')
    if not first.isdigit():
        return None
    ms = int(first)
    ms = ms // 1000 if ms >= csvtext.MICROSECOND_THRESHOLD else ms
    return (
        (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms - ms % MS_PER_DAY)).date().isoformat()
    )


__all__ = [
    "BinanceFilesSource",
    "MissingFile",
    "RejectedLine",
    "parse_funding",
    "parse_klines",
    "parse_liquidations",
    "parse_metrics",
]
