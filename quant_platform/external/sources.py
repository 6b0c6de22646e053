"""Connectors for external information: file drops (JSONL/CSV) and two REST shapes (a GDELT-like document
search, a FRED-like series endpoint) on the project's resilient HTTP layer (timeouts, backoff with jitter,
``Retry-After``, a per-source circuit breaker, health counters: :mod:`quant_platform.market.sources.resilient_http`).

Each connector returns a :class:`SourceBatch`: the raw records (``RAW_SCHEMA``: source, origin, ingested_at,
payload_json), quarantine rows for what could not even become a raw record (a drop line without its receipt
time), and the source's health. A REST fetch that fails for good raises after recording the failure in the
health counters: the day is not marked fetched, so nothing is silently lost and a re-run fetches it again.

File drops: ``<root>/<source>/<YYYY-MM-DD>/*.jsonl|*.csv``; every record carries ``ingested_at`` (the
collector's receipt time, ISO-8601 with offset) so replays are reproducible to the byte.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from quant_platform.external.config import ExternalSpec
from quant_platform.external.normalize import (
    MALFORMED_JSON,
    MALFORMED_TIME,
    MISSING_FIELD,
    Rejection,
    parse_time,
)
from quant_platform.external.schemas import QUARANTINE_SCHEMA, RAW_SCHEMA
from quant_platform.market.sources.resilient_http import ResilientHttpClient, SourceHealth


@dataclass
class SourceBatch:
    source: str
    raw: pl.DataFrame
    quarantine: pl.DataFrame
    health: SourceHealth = field(default_factory=SourceHealth)
    files_read: list[str] = field(default_factory=list)


def _frames(source: str, raw_rows: list[dict], bad_rows: list[dict], health: SourceHealth) -> SourceBatch:
    return SourceBatch(
        source=source,
        raw=pl.DataFrame(raw_rows, schema=RAW_SCHEMA),
        quarantine=pl.DataFrame(bad_rows, schema=QUARANTINE_SCHEMA),
        health=health,
    )


class FileDropSource:
    """Records dropped as files by a collector, one folder per source and day."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def fetch(self, source: str, day: date) -> SourceBatch:
        folder = self.root / source / day.isoformat()
        raw_rows: list[dict] = []
        bad_rows: list[dict] = []
        health = SourceHealth()
        files = sorted(folder.glob("*.jsonl")) + sorted(folder.glob("*.csv")) if folder.is_dir() else []
        for path in files:
            for origin, text, parsed in self._records(path):
                stamp = parsed.get("ingested_at") if isinstance(parsed, dict) else None
                try:
                    if parsed is None:
                        raise Rejection(MALFORMED_JSON, "line is not a JSON object")
                    if stamp is None:
                        raise Rejection(MISSING_FIELD, "ingested_at (the collector's receipt time)")
                    ingested = parse_time(stamp, "ingested_at")
                except Rejection as rejection:
                    bad_rows.append(
                        {
                            "source": source,
                            "origin": origin,
                            "ingested_at": datetime.combine(day, time(), UTC),
                            "reason": rejection.reason,
                            "detail": rejection.detail,
                            "payload_json": text,
                        }
                    )
                    continue
                raw_rows.append(
                    {"source": source, "origin": origin, "ingested_at": ingested, "payload_json": text}
                )
        health.success = 1
        if not raw_rows and not bad_rows:
            health.empty = 1
        batch = _frames(source, raw_rows, bad_rows, health)
        batch.files_read = [str(p) for p in files]
        return batch

    @staticmethod
    def _records(path: Path) -> list[tuple[str, str, dict | None]]:
        out: list[tuple[str, str, dict | None]] = []
        if path.suffix == ".jsonl":
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    parsed = json.loads(line)
                except json.JSONDecodeError:
                    parsed = None
                out.append((f"{path}:{number}", line, parsed if isinstance(parsed, dict) else None))
            return out
        with path.open(encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):  # line 1 is the header
                record = {k: (v if v != "" else None) for k, v in row.items() if k is not None}
                if record.get("entities"):
                    record["entities"] = [e.strip() for e in str(record["entities"]).split("|") if e.strip()]
                out.append((f"{path}:{number}", json.dumps(record, sort_keys=True), record))
        return out


class DocSearchSource:
    """A GDELT-like document search: ``GET {base}/api/v2/doc/doc?query=…&mode=artlist&format=json&
    startdatetime=YYYYMMDDHHMMSS&enddatetime=…`` answering ``{"articles": [{url, title, seendate, domain, tone}]}``
    (``seendate`` as ``YYYYMMDDTHHMMSSZ``)."""

    def __init__(
        self,
        base_url: str,
        query: str,
        client: ResilientHttpClient,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.query = query
        self.client = client
        self.clock = clock or (lambda: datetime.now(UTC))

    def fetch(self, source: str, day: date) -> SourceBatch:
        start = datetime.combine(day, time(), UTC)
        end = start + timedelta(days=1) - timedelta(seconds=1)
        payload = self.client.get_json(
            f"{self.base_url}/api/v2/doc/doc",
            {
                "query": self.query,
                "mode": "artlist",
                "format": "json",
                "maxrecords": 250,
                "startdatetime": start.strftime("%Y%m%d%H%M%S"),
                "enddatetime": end.strftime("%Y%m%d%H%M%S"),
            },
        )
        ingested = self.clock()
        # GDELT answers {} when nothing matches; any other object without "articles" is not its shape
        articles = (
            (payload.get("articles", [] if not payload else None)) if isinstance(payload, dict) else None
        )
        raw_rows, bad_rows = [], []
        if articles is None or not isinstance(articles, list):
            bad_rows.append(
                {
                    "source": source,
                    "origin": f"{self.base_url}#response",
                    "ingested_at": ingested,
                    "reason": MALFORMED_JSON,
                    "detail": "no 'articles' list in the response",
                    "payload_json": json.dumps(payload)[:10_000],
                }
            )
            articles = []
        if not articles:
            self.client.health.empty += 1
        for index, article in enumerate(articles):
            record = _doc_record(article)
            raw_rows.append(
                {
                    "source": source,
                    "origin": f"{self.base_url}#{day}:{index}",
                    "ingested_at": ingested,
                    "payload_json": json.dumps(record, sort_keys=True),
                }
            )
        return _frames(source, raw_rows, bad_rows, self.client.health)


def _doc_record(article: Any) -> Any:
    if not isinstance(article, dict):
        return article  # normalize quarantines it as malformed
    seen = article.get("seendate")
    published = None
    if isinstance(seen, str) and len(seen) == 16 and seen.endswith("Z"):
        published = f"{seen[0:4]}-{seen[4:6]}-{seen[6:8]}T{seen[9:11]}:{seen[11:13]}:{seen[13:15]}+00:00"
    return {
        "id": article.get("url"),
        "headline": article.get("title"),
        "published": published or seen,
        "entities": article.get("entities") or [],
        "tone": article.get("tone"),
        "domain": article.get("domain"),
    }


class SeriesSource:
    """A FRED-like series endpoint: ``GET {base}/fred/series/observations?series_id=…&file_type=json&
    realtime_start=D&realtime_end=D`` answering ``{"observations": [{date, value, realtime_start}]}``; values
    are strings and ``"."`` means missing. The value known on ``realtime_start`` is a release at that day's
    release time (``spec/external.yaml`` macro.release_time_utc); ``prior`` is the previous observation's value."""

    def __init__(
        self,
        base_url: str,
        series_ids: list[str],
        client: ResilientHttpClient,
        spec: ExternalSpec,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.series_ids = list(series_ids)
        self.client = client
        self.spec = spec
        self.clock = clock or (lambda: datetime.now(UTC))

    def fetch(self, source: str, day: date) -> SourceBatch:
        raw_rows, bad_rows = [], []
        for series_id in self.series_ids:
            payload = self.client.get_json(
                f"{self.base_url}/fred/series/observations",
                {
                    "series_id": series_id,
                    "file_type": "json",
                    "realtime_start": day.isoformat(),
                    "realtime_end": day.isoformat(),
                    "observation_start": (day - timedelta(days=400)).isoformat(),
                },
            )
            ingested = self.clock()
            observations = payload.get("observations") if isinstance(payload, dict) else None
            if not isinstance(observations, list):
                bad_rows.append(
                    {
                        "source": source,
                        "origin": f"{self.base_url}#{series_id}",
                        "ingested_at": ingested,
                        "reason": MALFORMED_JSON,
                        "detail": "no 'observations' list in the response",
                        "payload_json": json.dumps(payload)[:10_000],
                    }
                )
                continue
            ordered = sorted(
                (o for o in observations if isinstance(o, dict)), key=lambda o: str(o.get("date"))
            )
            released = [o for o in ordered if o.get("realtime_start") == day.isoformat()]
            if not released:
                self.client.health.empty += 1
            hour, minute = (int(x) for x in self.spec.release_time(series_id).split(":"))
            for obs in released:
                position = ordered.index(obs)
                prior = ordered[position - 1].get("value") if position > 0 else None
                record = {
                    "id": f"{series_id}:{obs.get('date')}:{obs.get('realtime_start')}",
                    "series_id": series_id,
                    "period": obs.get("date"),
                    "value": None if obs.get("value") in (None, ".") else obs.get("value"),
                    "prior": None if prior in (None, ".") else prior,
                    "release_time": datetime.combine(day, time(hour, minute), UTC).isoformat(),
                }
                if record["value"] is None:
                    bad_rows.append(
                        {
                            "source": source,
                            "origin": f"{self.base_url}#{record['id']}",
                            "ingested_at": ingested,
                            "reason": MISSING_FIELD,
                            "detail": "value ('.' is FRED's missing value)",
                            "payload_json": json.dumps(obs, sort_keys=True),
                        }
                    )
                    continue
                raw_rows.append(
                    {
                        "source": source,
                        "origin": f"{self.base_url}#{record['id']}",
                        "ingested_at": ingested,
                        "payload_json": json.dumps(record, sort_keys=True),
                    }
                )
        return _frames(source, raw_rows, bad_rows, self.client.health)


__all__ = ["MALFORMED_TIME", "DocSearchSource", "FileDropSource", "SeriesSource", "SourceBatch"]
