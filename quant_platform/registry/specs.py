"""Frozen, self-validating specs: a dataset declaration and a RunSet selection.

Both reject unknown keys (pydantic ``extra="forbid"``) and normalise what has no meaningful order (symbols,
tags, filters, assets are sorted and de-duplicated), so two ways of writing the same selection get the same
content id, and a typo never silently becomes a different selection.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quant_platform.core.hashing import canonical_hash, canonical_json
from quant_platform.core.timeutil import parse_day
from quant_platform.registry.names import (
    validate_filter,
    validate_label,
    validate_name,
    validate_symbol,
)
from quant_platform.storage.keys import asset_path

Mode = Literal["exploratory", "reproducible"]
EXPLORATORY: Mode = "exploratory"
REPRODUCIBLE: Mode = "reproducible"


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date | str):
        raise ValueError(f"expected a YYYY-MM-DD day, got {value!r}")
    return parse_day(value)


def _sorted_unique(values: Any, check: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        raise ValueError(f"expected a list of strings, got the string {values!r}")
    return tuple(sorted({check(v) for v in values}))


def _external_source(value: Any) -> str:
    """A caller id, news source or macro series id (series ids are upper case, e.g. CPIAUCSL)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}", value):
        raise ValueError(f"invalid external source {value!r}: letters, digits and _ . : - (at most 100)")
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def canonical(self) -> dict[str, Any]:
        """The JSON-ready dict whose canonical JSON is hashed into the content id."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return canonical_json(self.canonical())

    @property
    def content_hash(self) -> str:
        return canonical_hash(self.canonical())


class DatasetSpec(_Spec):
    """A named, immutable dataset: which assets of the store, which symbols, which days.

    ``last_day=None`` declares an open-ended dataset that grows daily (the synthetic or live market); a
    corrected or re-scoped dataset is a new ``dataset_id``.
    """

    dataset_id: str
    source: str
    assets: tuple[str, ...] = Field(min_length=1)
    symbols: tuple[str, ...] = Field(min_length=1)
    first_day: date
    last_day: date | None = None
    description: str = ""
    # What kind of bars these are (spec/profiles.yaml): bar length, sessions, asset class. None: the spec's
    # default profile (datasets registered before profiles existed keep their content id).
    profile: str | None = None

    def canonical(self) -> dict[str, Any]:
        body = super().canonical()
        if body.get("profile") is None:
            body.pop("profile", None)
        return body

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from quant_platform.specs.profiles import load_profile  # the spec's profiles, read once per process

        return load_profile(value).name

    @field_validator("dataset_id")
    @classmethod
    def _dataset_id(cls, value: str) -> str:
        return validate_name(value, "dataset id")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return validate_name(value, "dataset source")

    @field_validator("assets", mode="before")
    @classmethod
    def _assets(cls, value: Any) -> tuple[str, ...]:
        return _sorted_unique(value, lambda a: asset_path(str(a).split("/")))

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> tuple[str, ...]:
        return _sorted_unique(value, validate_symbol)

    @field_validator("first_day", "last_day", mode="before")
    @classmethod
    def _days(cls, value: Any) -> date | None:
        return _day(value)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return validate_label(value, "description") if value else value

    @model_validator(mode="after")
    def _range(self) -> DatasetSpec:
        if self.last_day is not None and self.last_day < self.first_day:
            raise ValueError(f"dataset last_day {self.last_day} is before first_day {self.first_day}")
        return self


class RunSetSpec(_Spec):
    """A declarative selection of research inputs. Its content id is ``sha256(canonical_json(spec))``.

    Empty ``symbols``/``templates``/``strategies``/``external_sources`` mean "all". ``start``/``end`` default to the dataset's
    coverage; for an open-ended dataset ``end=None`` means "up to the day before resolution", and
    ``rolling_days`` (exclusive with ``start``) keeps only the last N days of that window — the rolling
    RunSet of the daily job. ``mode="reproducible"`` pins (freezes) the first complete resolution.
    """

    dataset_id: str
    symbols: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    rolling_days: int | None = Field(default=None, ge=1, le=36_600)
    templates: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    mode: Mode = EXPLORATORY
    # External information (quant_platform.external): which sources' events the RunSet's research reads —
    # callers, news sources, macro series (empty: all) — and the worst source tier it admits (None: all).
    # Left at their defaults they are not part of the content id (RunSets created before they existed keep it).
    external_sources: tuple[str, ...] = ()
    max_external_tier: int | None = Field(default=None, ge=1)

    def canonical(self) -> dict[str, Any]:
        body = super().canonical()
        if not body.get("external_sources"):
            body.pop("external_sources", None)
        if body.get("max_external_tier") is None:
            body.pop("max_external_tier", None)
        return body

    @field_validator("dataset_id")
    @classmethod
    def _dataset_id(cls, value: str) -> str:
        return validate_name(value, "dataset id")

    @field_validator("external_sources", mode="before")
    @classmethod
    def _external_sources(cls, value: Any) -> tuple[str, ...]:
        return _sorted_unique(value, _external_source)

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> tuple[str, ...]:
        return _sorted_unique(value, validate_symbol)

    @field_validator("templates", "strategies", mode="before")
    @classmethod
    def _filters(cls, value: Any) -> tuple[str, ...]:
        return _sorted_unique(value, validate_filter)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> tuple[str, ...]:
        return _sorted_unique(value, lambda t: validate_name(t, "tag"))

    @field_validator("start", "end", mode="before")
    @classmethod
    def _days(cls, value: Any) -> date | None:
        return _day(value)

    @model_validator(mode="after")
    def _range(self) -> RunSetSpec:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"RunSet end {self.end} is before start {self.start}")
        if self.start is not None and self.rolling_days is not None:
            raise ValueError("give either start or rolling_days, not both")
        return self

    def window(self, dataset: DatasetSpec, as_of_day: date) -> tuple[date, date]:
        """The inclusive day range this spec selects from ``dataset`` when resolved on ``as_of_day``.

        Raises ``ValueError`` when the range is empty or leaves the dataset's coverage.
        """
        end = self.end or dataset.last_day or (as_of_day - timedelta(days=1))
        if self.start is not None:
            start = self.start
        elif self.rolling_days is not None:
            start = end - timedelta(days=self.rolling_days - 1)
        else:
            start = dataset.first_day
        if end < start:
            raise ValueError(f"RunSet selects no days: {start} > {end}")
        if start < dataset.first_day or (dataset.last_day is not None and end > dataset.last_day):
            raise ValueError(
                f"RunSet range {start}..{end} leaves dataset {dataset.dataset_id!r} coverage "
                f"{dataset.first_day}..{dataset.last_day or 'open'}"
            )
        return start, end

    def check_against(self, dataset: DatasetSpec) -> None:
        """Refuse a spec that names symbols, or fixed days, outside ``dataset``."""
        if dataset.dataset_id != self.dataset_id:
            raise ValueError(f"spec names dataset {self.dataset_id!r}, got {dataset.dataset_id!r}")
        unknown = sorted(set(self.symbols) - set(dataset.symbols))
        if unknown:
            raise ValueError(f"symbols not in dataset {dataset.dataset_id!r}: {unknown}")
        for day in (self.start, self.end):
            if day is not None and (
                day < dataset.first_day or (dataset.last_day is not None and day > dataset.last_day)
            ):
                raise ValueError(
                    f"day {day} is outside dataset {dataset.dataset_id!r} coverage "
                    f"{dataset.first_day}..{dataset.last_day or 'open'}"
                )

    def effective_symbols(self, dataset: DatasetSpec) -> tuple[str, ...]:
        return self.symbols or dataset.symbols
