"""Raw external records → normalized records or quarantine rows (one reason each).

A raw record is what a connector received: ``source``, ``origin`` (file:line or url#index, so an operator can
find it), ``ingested_at`` (when we had it) and ``payload_json`` (the record as received). Normalizing is a
per-record Python pass on purpose: payloads are heterogeneous JSON whose fields differ by kind, and a day holds
thousands of records, not millions.

Times are UTC; a naive timestamp is refused (the instant it means is ambiguous). A record published more than
``max_future_skew_s`` after we ingested it is future-dated. ``available_at = max(published_at, ingested_at)``:
information is usable from the moment we had it, never from a (possibly back-dated) publish stamp.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from quant_platform.core.hashing import canonical_hash
from quant_platform.external.config import ALERT, MACRO, NEWS, ExternalSpec

# Quarantine reasons.
MALFORMED_JSON = "malformed_json"
UNKNOWN_SOURCE = "unknown_source"
MISSING_FIELD = "missing_field"
INVALID_FIELD = "invalid_field"
MALFORMED_TIME = "malformed_time"
FUTURE_DATED = "future_dated"
UNKNOWN_SYMBOL = "unknown_symbol"
UNLINKED = "unlinked"
CONFLICTING_DUPLICATE = "conflicting_duplicate"

_SIDES = {"long": 1, "buy": 1, "short": -1, "sell": -1}


@dataclass
class Rejection(Exception):
    reason: str
    detail: str


@dataclass
class Normalized:
    """One record after parsing, before linking and deduplication."""

    source: str
    kind: str
    tier: int
    primary: bool
    origin: str
    source_record_id: str | None
    published_at: datetime
    ingested_at: datetime
    fields: dict[str, Any]
    optional_present: float
    content_hash: str = ""
    mentions: list[str] = field(default_factory=list)

    @property
    def available_at(self) -> datetime:
        return max(self.published_at, self.ingested_at)

    @property
    def record_uid(self) -> str:
        return canonical_hash([self.source, self.source_record_id or self.content_hash])


def parse_time(value: Any, what: str) -> datetime:
    """ISO-8601 with an offset, or epoch milliseconds; UTC out."""
    if isinstance(value, bool) or value is None:
        raise Rejection(MALFORMED_TIME, f"{what}: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise Rejection(MALFORMED_TIME, f"{what}: {value!r}")
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Rejection(MALFORMED_TIME, f"{what}: {value!r} is not ISO-8601") from None
    if parsed.tzinfo is None:
        raise Rejection(MALFORMED_TIME, f"{what}: {value!r} has no UTC offset (ambiguous)")
    return parsed.astimezone(UTC)


def _required(payload: dict, name: str) -> Any:
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Rejection(MISSING_FIELD, name)
    return value


def _number(payload: dict, name: str, required: bool) -> float | None:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise Rejection(MISSING_FIELD, name)
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Rejection(INVALID_FIELD, f"{name}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise Rejection(INVALID_FIELD, f"{name}={value!r} is not finite")
    return number


def _alert_fields(payload: dict) -> tuple[dict[str, Any], list[str], float]:
    side_text = str(_required(payload, "side")).strip().lower()
    if side_text not in _SIDES:
        raise Rejection(INVALID_FIELD, f"side={payload['side']!r}; expected one of {sorted(_SIDES)}")
    fields = {
        "caller_id": str(_required(payload, "caller_id")),
        "side": _SIDES[side_text],
        "target": _number(payload, "target", False),
        "stop": _number(payload, "stop", False),
    }
    mentions = [str(_required(payload, "symbol"))]
    optional = [fields["target"], fields["stop"]]
    return fields, mentions, sum(v is not None for v in optional) / len(optional)


def _news_fields(payload: dict) -> tuple[dict[str, Any], list[str], float]:
    headline = str(_required(payload, "headline")).strip()
    entities = payload.get("entities") or []
    if not isinstance(entities, list):
        raise Rejection(INVALID_FIELD, f"entities={entities!r} is not a list")
    tone = _number(payload, "tone", False)
    fields = {"headline": headline, "tone": tone}
    optional = [tone, entities or None]
    return fields, [str(e) for e in entities] + [headline], sum(v is not None for v in optional) / 2


def _macro_fields(payload: dict) -> tuple[dict[str, Any], list[str], float]:
    fields = {
        "series_id": str(_required(payload, "series_id")),
        "period": str(_required(payload, "period")),
        "value": _number(payload, "value", True),
        "prior": _number(payload, "prior", False),
    }
    return fields, [], 1.0 if fields["prior"] is not None else 0.5


_BY_KIND = {ALERT: _alert_fields, NEWS: _news_fields, MACRO: _macro_fields}
_TIME_FIELD = {ALERT: "time", NEWS: "published", MACRO: "release_time"}


def normalize_record(
    source: str, origin: str, ingested_at: datetime, payload_json: str, spec: ExternalSpec
) -> Normalized:
    """Parse one raw record (raises :class:`Rejection` with the quarantine reason)."""
    try:
        payload = json.loads(payload_json)
    except (json.JSONDecodeError, TypeError) as exc:
        raise Rejection(MALFORMED_JSON, str(exc)) from None
    if not isinstance(payload, dict):
        raise Rejection(MALFORMED_JSON, f"a record must be a JSON object, got {type(payload).__name__}")
    source_spec = spec.sources.get(source)
    if source_spec is None:
        raise Rejection(UNKNOWN_SOURCE, f"{source!r} is not in spec/external.yaml sources")
    kind = source_spec.kind
    fields, mentions, completeness = _BY_KIND[kind](payload)
    published = parse_time(_required(payload, _TIME_FIELD[kind]), _TIME_FIELD[kind])
    skew = (published - ingested_at).total_seconds()
    if skew > spec.max_future_skew_s:
        raise Rejection(FUTURE_DATED, f"published {published.isoformat()} is {skew:.0f}s after ingest")
    record_id = payload.get("id") or payload.get("message_id")
    record = Normalized(
        source=source,
        kind=kind,
        tier=source_spec.tier,
        primary=source_spec.primary,
        origin=origin,
        source_record_id=None if record_id is None else str(record_id),
        published_at=published,
        ingested_at=ingested_at,
        fields=fields,
        optional_present=completeness,
        mentions=mentions,
    )
    record.content_hash = canonical_hash(
        {"kind": kind, "published_at": published, "fields": fields, "mentions": sorted(mentions)}
    )
    return record
