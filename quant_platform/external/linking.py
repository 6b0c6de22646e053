"""Entity linking: which universe symbols a record is about, and how we know.

Methods, strongest first:
- ``explicit``: the record names a symbol (an alert's ``symbol``; a news ``entities`` item that is a symbol).
- ``alias``: a whole-word alias of ``spec/external.yaml`` (``bitcoin`` → BTCUSDT) in an entity or the headline.
- ``broad``: a market-wide term (``crypto``): linked to every symbol of the universe and marked
  ``synthetic`` — a fallback link that training leaves out by default.
- ``market``: a macro release is about the whole economy by definition and links to every symbol; this is
  not a guess, so it is not synthetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from quant_platform.external.config import ALERT, MACRO, ExternalSpec

EXPLICIT, ALIAS, BROAD, MARKET = "explicit", "alias", "broad", "market"
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Link:
    symbol: str
    method: str
    synthetic: bool


def _words(text: str) -> str:
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def link_entities(kind: str, mentions: list[str], universe: list[str], spec: ExternalSpec) -> list[Link]:
    """Links of one record (empty: nothing in the universe is named; the caller quarantines it)."""
    universe_set = set(universe)
    if kind == MACRO:
        return [Link(symbol, MARKET, False) for symbol in sorted(universe)]
    explicit = sorted({m.strip().upper() for m in mentions} & universe_set)
    if kind == ALERT:  # an alert names exactly one symbol; nothing else about it is inferred
        return [Link(s, EXPLICIT, False) for s in explicit]
    if explicit:
        return [Link(s, EXPLICIT, False) for s in explicit]
    text = "".join(_words(m) for m in mentions)
    aliased = sorted(
        {symbol for alias, symbol in spec.linking.aliases.items() if _words(alias) in text} & universe_set
    )
    if aliased:
        return [Link(s, ALIAS, False) for s in aliased]
    if any(_words(term) in text for term in spec.linking.broad_terms):
        return [Link(symbol, BROAD, True) for symbol in sorted(universe)]
    return []
