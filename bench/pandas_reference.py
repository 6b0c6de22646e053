"""A plain pandas reference of the features -> context_features -> market_events + event_flags chain.

Written as a careful analyst would write it with pandas (groupby / rolling / ewm / merge, single-threaded, no
tricks), from the spec: parameters come from ``spec/features``, ``spec/states`` and ``spec/events`` through
the spec loaders only (``load_feature_spec``, ``load_event_registry``: the parsed YAML). Nothing here calls the
Polars implementation; ``bench_features`` checks that both give the same numbers before timing them.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import polars as pl

from quant_platform.events.registry import Condition, EventDef, EventRegistry, SignalRef, load_event_registry
from quant_platform.features.spec import FeatureDef, FeatureSpec, StateDef, load_feature_spec

KEYS = ["symbol", "ts"]


def _pandas_state(values: pd.Series, state: StateDef) -> pd.Series:
    """Bins of spec/states: the label of the first bin with value < upper (the last bin has no upper)."""
    edges = [-np.inf, *(u for u in state.uppers if u is not None), np.inf]
    labels = pd.cut(values, edges, right=False, labels=list(state.labels))
    return labels.astype(object).where(labels.notna(), None)


# --- features_v1 --------------------------------------------------------------------------------------------
def _ewm_mean(values: pd.Series, by: list[pd.Series], alpha: float) -> pd.Series:
    """pandas' own grouped EWMA (``groupby(...).ewm``), back on the original row labels."""
    grouped = values.groupby(by, sort=False).ewm(alpha=alpha, adjust=False, ignore_na=True).mean()
    return grouped.reset_index(level=list(range(len(by))), drop=True)


def _pandas_feature(
    df: pd.DataFrame, f: FeatureDef, keys: list[str], cover: float, bar_minutes: int
) -> pd.Series:
    """One feature with pandas groupby/rolling/ewm (straightforward, no tricks)."""
    p = f.params
    x = df[f.inputs[0]] if f.inputs else None
    window = p.get("window", 1)
    min_periods = window if f.scope == "segment" else max(1, math.ceil(cover * window))

    def roll(series: pd.Series, fn: str, w: int = window, mp: int = min_periods) -> pd.Series:
        grouped = series.groupby([df[k] for k in (keys if f.scope == "segment" else ["symbol"])], sort=False)
        return getattr(grouped.rolling(w, min_periods=mp), fn)().reset_index(
            level=list(range(len(grouped.keys))), drop=True
        )

    def shift(series: pd.Series, k: int) -> pd.Series:
        return series.groupby(
            [df[k2] for k2 in (keys if f.scope == "segment" else ["symbol"])], sort=False
        ).shift(k)

    def zscore(series: pd.Series) -> pd.Series:
        prev = shift(series, 1)
        return (series - roll(prev, "mean")) / roll(prev, "std").replace(0, np.nan)

    def wilder(values: pd.Series, period: int) -> pd.Series:
        n_valid = df["_n_valid"]
        seed_at = 1 + period
        seeded = values.where(n_valid > seed_at)
        seeded = seeded.mask(n_valid == seed_at, roll(values, "mean", period, period))
        return _ewm_mean(seeded, [df[k] for k in keys], 1 / period)

    b = f.builder
    if b == "log_return":
        return np.log(x / shift(x, p["horizon"]))
    if b == "log_change":
        r = x / shift(x, p["horizon"])
        return np.log(r.where(r > 0))
    if b == "difference":
        return x - shift(x, p["horizon"])
    if b == "ewma_vol":
        alpha = 2 / (p["span"] + 1)
        return np.sqrt(_ewm_mean(x**2, [df[k] for k in keys], alpha))
    if b == "rolling_std":
        return roll(x, "std")
    if b == "rolling_std_of_log":
        return roll(np.log(x.where(x > 0)), "std")
    if b == "ratio":
        return x / df[f.inputs[1]].replace(0, np.nan)
    if b == "ratio_bps":
        return 1e4 * x / df[f.inputs[1]].replace(0, np.nan)
    if b == "ratio_to_lagged":
        return x / shift(df[f.inputs[1]], p["lag"]).replace(0, np.nan)
    if b == "standardized_return":
        h = p["horizon"]
        return x / (shift(df[f.inputs[1]], h) * math.sqrt(h)).replace(0, np.nan)
    if b == "rolling_percentile":
        rank = roll(x, "rank")
        count = roll(x.notna().astype(float), "sum", window, 1)
        return rank / count
    if b == "zscore":
        return zscore(x)
    if b == "zscore_log":
        return zscore(np.log(x.where(x > 0)))
    if b == "zscore_log1p":
        return zscore(np.log1p(x))
    if b == "wilder_rsi":
        change = x - shift(x, 1)
        gain, loss = wilder(change.clip(lower=0), p["period"]), wilder((-change).clip(lower=0), p["period"])
        return (100 - 100 / (1 + gain / loss)).where(loss != 0, 100.0).where(gain.notna())
    if b == "range_position":
        lo, hi = roll(x, "min"), roll(x, "max")
        return (x - lo) / (hi - lo).replace(0, np.nan)
    if b == "corwin_schultz":
        h, lo = df[f.inputs[0]], df[f.inputs[1]]
        h1, l1 = shift(h, 1), shift(lo, 1)
        beta = np.log(h1 / l1) ** 2 + np.log(h / lo) ** 2
        gamma = np.log(np.maximum(h, h1) / np.minimum(lo, l1)) ** 2
        k = 3 - 2 * math.sqrt(2)
        alpha = (np.sqrt(2 * beta) - np.sqrt(beta)) / k - np.sqrt(gamma / k)
        return roll((2 * (np.exp(alpha) - 1) / (1 + np.exp(alpha))).clip(lower=0), "mean")
    if b == "abdi_ranaldo":
        h, lo, c = df[f.inputs[0]], df[f.inputs[1]], df[f.inputs[2]]
        eta = (np.log(h) + np.log(lo)) / 2
        pc = shift(np.log(c), 1)
        return np.sqrt(roll(4 * (pc - shift(eta, 1)) * (pc - eta), "mean").clip(lower=0))
    if b == "taker_imbalance":
        tb, v = df[f.inputs[0]], df[f.inputs[1]]
        return roll(2 * tb - v, "sum") / roll(v, "sum").replace(0, np.nan)
    if b == "amihud":
        return roll(x.abs() / df[f.inputs[1]].replace(0, np.nan) * p["scale"], "mean")
    if b in ("passthrough", "boolean_as_float"):
        return x.astype(float)
    if b == "sign_run_length":
        sign = np.sign(x)
        brk = (sign != shift(sign, 1)) | sign.isna()
        run_id = brk.groupby(df["symbol"], sort=False).cumsum()
        run = sign.groupby([df["symbol"], run_id], sort=False).cumcount() + 1
        return (
            (run.clip(upper=p["cap_bars"]) / (p["funding_interval_minutes"] / bar_minutes))
            .where(sign != 0, 0.0)
            .where(sign.notna())
        )
    if b == "rolling_sign_mean":
        return roll(np.sign(x), "mean")
    if b == "sum_of":
        return x + df[f.inputs[1]]
    if b == "normalized_difference":
        y = df[f.inputs[1]]
        return (x - y) / (x + y).replace(0, np.nan)
    if b == "vwap_distance":
        h, lo, c, v = (df[i] for i in f.inputs)
        vwap = roll((h + lo + c) / 3 * v, "sum") / roll(v, "sum").replace(0, np.nan)
        return 1e4 * (c / vwap - 1)
    if b == "rolling_max":
        return roll(x, "max")
    if b == "rolling_min":
        return roll(x, "min")
    if b == "price_range_position":
        return (x - df[f.inputs[2]]) / (df[f.inputs[1]] - df[f.inputs[2]]).replace(0, np.nan)
    if b == "efficiency_ratio":
        c = x
        return np.abs(np.log(c / shift(c, window))) / roll(df[f.inputs[1]].abs(), "sum").replace(0, np.nan)
    if b == "wilder_atr":
        h, lo, c = (df[i] for i in f.inputs)
        pc = shift(c, 1)
        tr = pd.concat([h - lo, (h - pc).abs(), (lo - pc).abs()], axis=1).max(axis=1).where(pc.notna())
        return wilder(tr, p["period"])
    if b == "minute_of_day":
        return ((x.dt.hour * 60 + x.dt.minute + p["offset_bars"] * bar_minutes) % 1440).astype(float)
    if b == "day_of_week":
        return (x.dt.weekday + 1).astype(float)
    raise ValueError(f"no pandas reference for builder {b}")


def _dependency_stages(features: tuple[FeatureDef, ...]) -> list[list[FeatureDef]]:
    """Features in rounds such that each one's feature inputs were computed in an earlier round."""
    pending, stages = list(features), []
    names = {f.name for f in features}
    while pending:
        waiting = {f.name for f in pending}
        ready = [f for f in pending if not ((set(f.inputs) - {f.name}) & names & waiting)]
        if not ready:
            raise ValueError(f"features with circular inputs: {sorted(waiting)}")
        stages.append(ready)
        pending = [f for f in pending if f not in ready]
    return stages


def to_pandas_bars(bars: pl.DataFrame) -> pd.DataFrame:
    """The bars as a pandas frame in (symbol, ts) order: the reference's input, converted before it is timed
    (ours reads the Polars frame as it is)."""
    return bars.sort("symbol", "ts").to_pandas()


def pandas_features(
    bars: pl.DataFrame | pd.DataFrame, families: tuple[str, ...] | None, bar_minutes: int | None = None
) -> pd.DataFrame:
    """The same features_v1 columns (same spec, same gap/warm-up masking) with pandas. ``bars``: Polars, or
    pandas already in (symbol, ts) order (:func:`to_pandas_bars`); ``bar_minutes``: default the spec's."""
    spec = load_feature_spec()
    bar_minutes = bar_minutes or spec.bar_minutes
    df = to_pandas_bars(bars) if isinstance(bars, pl.DataFrame) else bars.copy(deep=False)
    df["_segment"] = df["gap"].astype(int).groupby(df["symbol"]).cumsum()
    df["_n_valid"] = (~df["gap"]).astype(int).groupby([df["symbol"], df["_segment"]]).cumsum()
    df["_symbol_pos"] = df.groupby("symbol").cumcount()
    keys = ["symbol", "_segment"]
    features = spec.table_features("features_v1", families)
    for stage in _dependency_stages(features):
        for f in stage:
            values = _pandas_feature(df, f, keys, spec.min_coverage, bar_minutes)
            if f.scope == "segment":
                df[f.name] = values.where(df["_n_valid"] > f.warmup_bars)
            else:
                df[f.name] = values.where(~df["gap"] & (df["_symbol_pos"] >= f.warmup_bars))
    # warmup: gap rows, rows until every feature is defined again after a gap, the symbol's first rows
    recovery = [f.warmup_bars for f in features if f.scope == "segment"]
    recovery += [f.warmup_bars - f.params["window"] + math.ceil(spec.min_coverage * f.params["window"]) + 1
                 for f in features if f.scope == "symbol" and f.params.get("window")]  # fmt: skip
    symbol_warmup = max((f.warmup_bars for f in features if f.scope == "symbol"), default=0)
    df["warmup"] = (
        df["gap"] | (df["_n_valid"] <= max(recovery, default=0)) | (df["_symbol_pos"] < symbol_warmup)
    )
    names = [f.name for f in features]
    states = [s for s in spec.table_states("features_v1") if s.input in names]
    for state in states:
        df[state.name] = _pandas_state(df[state.input], state)
    df["ontology_hash"] = spec.ontology_hash
    # the features_v1 table only (not the bar columns it was computed from)
    return df[["symbol", "ts", "gap", "warmup", *names, *(s.name for s in states), "ontology_hash"]]


# --- context_features -------------------------------------------------------------------------------------
def _symbol_context(g: pd.DataFrame, defs: dict[str, FeatureDef], cover: float) -> pd.DataFrame:
    """One symbol's rolling correlation / beta to the leave-one-out market, and its residuals."""

    def need(window: int) -> int:
        return math.ceil(cover * window)

    out = pd.DataFrame(index=g.index)
    both = g["ret_1"].notna() & g["loo_market"].notna()
    x, y = g["ret_1"].where(both), g["loo_market"].where(both)
    pos = g["_symbol_pos"]
    for name in ("corr_mkt_48", "corr_mkt_288"):
        w = defs[name].params["window"]
        rolling_x, rolling_y = x.rolling(w, min_periods=need(w)), y.rolling(w, min_periods=need(w))
        valid = (rolling_x.var() > 0) & (rolling_y.var() > 0)
        corr = rolling_x.corr(y).where(valid).clip(-1.0, 1.0)
        out[name] = corr.where(pos >= defs[name].warmup_bars)
    w = defs["beta_mkt_288"].params["window"]
    var_y = y.rolling(w, min_periods=need(w)).var()
    beta = (x.rolling(w, min_periods=need(w)).cov(y) / var_y).where(var_y > 0)
    out["beta_mkt_288"] = beta.where(pos >= defs["beta_mkt_288"].warmup_bars)
    out["corr_gap"] = out["corr_mkt_48"] - out["corr_mkt_288"]
    residual = g["ret_1"] - out["beta_mkt_288"].shift(1) * g["loo_market"]
    residual = residual.where(pos >= defs["residual_ret"].warmup_bars)
    out["residual_ret"] = residual
    rz, rcz = defs["residual_z"], defs["residual_cum_12_z"]
    w = rz.params["window"]
    std = residual.shift(1).rolling(w, min_periods=need(w)).std()
    out["residual_z"] = (residual / std.where(std > 0)).where(pos >= rz.warmup_bars)
    w, h = rcz.params["window"], rcz.params["horizon"]
    cum_std = residual.shift(h).rolling(w, min_periods=need(w)).std()
    cum = residual.rolling(h, min_periods=h).sum()
    out["residual_cum_12_z"] = (cum / (cum_std.where(cum_std > 0) * math.sqrt(h))).where(
        pos >= rcz.warmup_bars
    )
    return out


def _pairwise_context(df: pd.DataFrame, window: int, min_periods: int) -> tuple[pd.Series, pd.DataFrame]:
    """Volatility-weighted average pairwise correlation (spec formula) per ts, and each symbol's weighted
    average correlation to the others, over the bars where every symbol has a return."""
    wide = df.pivot(index="ts", columns="symbol", values="ret_1")
    complete = wide.notna().all(axis=1) & (wide.shape[1] >= 2)
    wide = wide.where(complete, axis=0)
    total = wide.sum(axis=1, min_count=1)
    var = wide.rolling(window, min_periods=min_periods).var()
    vol = np.sqrt(var.clip(lower=0))
    var_total = total.rolling(window, min_periods=min_periods).var()
    cov_total = wide.rolling(window, min_periods=min_periods).cov(total)
    sum_var, sum_vol = var.sum(axis=1, skipna=False), vol.sum(axis=1, skipna=False)
    pair_denominator = sum_vol**2 - sum_var
    avg_pair = ((var_total - sum_var) / pair_denominator).where(pair_denominator > 0).clip(-1.0, 1.0)
    others_denominator = vol.mul(-vol.sub(sum_vol, axis=0))
    to_others = ((cov_total - var) / others_denominator).where(others_denominator > 0).clip(-1.0, 1.0)
    return avg_pair, to_others


def pandas_context(features: pd.DataFrame, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """context_features (spec/features/context.yaml + the context_features states) from features_v1 rows."""
    spec = spec or load_feature_spec()
    defs = {f.name: f for f in spec.table_features("context_features")}
    params, cover = spec.context_params, spec.min_coverage

    def need(window: int) -> int:
        return math.ceil(cover * window)

    df = features[["symbol", "ts", "warmup", "ret_1"]].sort_values(KEYS).reset_index(drop=True)
    # the equal-weight market at each bar
    by_ts = df.groupby("ts")["ret_1"]
    market = pd.DataFrame(
        {"n_valid": by_ts.count(), "mean": by_ts.mean(), "std": by_ts.std(), "sum": by_ts.sum()}
    )
    enough = market["n_valid"] >= params["min_symbols"]
    market["mkt_ret"] = market["mean"].where(enough)
    market["dispersion"] = market["std"].where(enough)
    market["_market_pos"] = np.arange(len(market))
    # the market EWMA restarts where the proxy is undefined
    segment = market["mkt_ret"].isna().cumsum()
    n_valid = market["mkt_ret"].notna().groupby(segment).cumsum()
    vol = defs["mkt_vol"]
    alpha = 2.0 / (vol.params["span"] + 1.0)
    ewma = _ewm_mean(market["mkt_ret"] ** 2, [segment], alpha)
    market["mkt_vol"] = np.sqrt(ewma).where(n_valid >= vol.warmup_bars)
    dz = defs["dispersion_z"]
    w = dz.params["window"]
    previous = market["dispersion"].shift(1)
    std = previous.rolling(w, min_periods=need(w)).std()
    z = (market["dispersion"] - previous.rolling(w, min_periods=need(w)).mean()) / std.where(std != 0)
    market["dispersion_z"] = z.where(market["_market_pos"] >= dz.warmup_bars)
    pct = defs["mkt_vol_percentile"]
    w = pct.params["window"]
    rank = market["mkt_vol"].rolling(w, min_periods=need(w)).rank()
    count = market["mkt_vol"].notna().astype(float).rolling(w, min_periods=1).sum()
    market["mkt_vol_percentile"] = (rank / count).where(market["_market_pos"] >= pct.warmup_bars)

    df = df.merge(market.drop(columns=["mean", "std"]), left_on="ts", right_index=True, how="left")
    df["_symbol_pos"] = df.groupby("symbol").cumcount()
    # leave-one-out market: the mean of the OTHER valid symbols' ret_1
    others = df["n_valid"] - df["ret_1"].notna().astype(int)
    loo = (df["sum"] - df["ret_1"].fillna(0.0)) / others
    df["loo_market"] = loo.where(others >= max(params["min_other_symbols"], 1))
    per_symbol = [_symbol_context(g, defs, cover) for _, g in df.groupby("symbol", sort=False)]
    df = df.join(pd.concat(per_symbol))
    averages = df.groupby("ts")[["corr_mkt_48", "corr_mkt_288"]].mean()
    df["avg_corr_48"] = df["ts"].map(averages["corr_mkt_48"])
    df["avg_corr_288"] = df["ts"].map(averages["corr_mkt_288"])
    df["avg_corr_jump"] = df["avg_corr_48"] - df["avg_corr_288"]
    pair = defs["avg_pair_corr_288"]
    w = pair.params["window"]
    avg_pair, to_others = _pairwise_context(df, w, need(w))
    df["avg_pair_corr_288"] = df["ts"].map(avg_pair).where(df["_market_pos"] >= pair.warmup_bars)
    others_long = to_others.stack(future_stack=True).rename("corr_others_288").reset_index()
    df = df.merge(others_long, on=KEYS, how="left")
    df["corr_others_288"] = df["corr_others_288"].where(
        df["_symbol_pos"] >= defs["corr_others_288"].warmup_bars
    )
    max_warmup = max(f.warmup_bars for f in defs.values())
    df["warmup"] = df["warmup"] | (df["_symbol_pos"] < max_warmup) | (df["_market_pos"] < max_warmup)
    names = list(defs)
    states = [s for s in spec.table_states("context_features") if s.input in names]
    for state in states:
        df[state.name] = _pandas_state(df[state.input], state)
    df["ontology_hash"] = spec.ontology_hash
    return df[["symbol", "ts", "warmup", *names, *(s.name for s in states), "ontology_hash"]]


# --- market_events + event_flags --------------------------------------------------------------------------
def _values_read(event: EventDef) -> list[tuple[str, int]]:
    """(input, lag) pairs the rule reads, in the spec's order: required inputs, each condition's value (and
    the bar before for sign_change / changed) and reference, then direction and severity. An event is
    evaluable on a bar only where all of them are known; the trigger JSON records them."""
    pairs = [(name, 0) for name in event.required_inputs]
    for branch in event.branches:
        for c in branch.conditions:
            pairs.append((c.feature, c.lag))
            if c.op in ("sign_change", "changed"):
                pairs.append((c.feature, c.lag + 1))
            if c.ref:
                pairs.append((c.ref, c.ref_lag))
    pairs += [(s.feature, s.lag) for s in (event.direction, event.severity) if s.feature]
    return list(dict.fromkeys(pairs))


class _Lagged:
    """The symbol's value of an input ``lag`` bars back (groupby shift), computed once per (input, lag)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df, self.by_symbol, self.cache = df, df.groupby("symbol", sort=False), {}

    def __call__(self, name: str, lag: int) -> pd.Series:
        if (name, lag) not in self.cache:
            self.cache[name, lag] = self.df[name] if lag == 0 else self.by_symbol[name].shift(lag)
        return self.cache[name, lag]


def _condition(c: Condition, read: _Lagged) -> pd.Series:
    x = read(c.feature, c.lag)
    other = read(c.ref, c.ref_lag) if c.ref else c.value
    if c.op in ("sign_change", "changed"):
        previous = read(c.feature, c.lag + 1)
        if c.op == "changed":
            return x != previous
        return (np.sign(x) != np.sign(previous)) & (x != 0) & (previous != 0)
    ops = {
        "gt": lambda: x > other,
        "ge": lambda: x >= other,
        "lt": lambda: x < other,
        "le": lambda: x <= other,
        "abs_gt": lambda: x.abs() > other,
        "abs_lt": lambda: x.abs() < other,
        "eq": lambda: x == other,
        "isin": lambda: x.isin(list(c.values)),
        "same_sign": lambda: (np.sign(x) == np.sign(other)) & (x != 0),
    }
    if c.op not in ops:
        raise ValueError(f"no pandas reference for condition op {c.op!r}")
    return ops[c.op]()


def _signal(ref: SignalRef, read: _Lagged) -> pd.Series | float:
    """Direction (sign of a feature) or severity (|feature - center|), or the fixed value."""
    if ref.feature is None:
        return ref.value
    x = read(ref.feature, ref.lag).astype(float)
    x = (x - ref.center).abs() if ref.absolute else np.sign(x)
    return -x if ref.negate else x


def _event_rows(
    event: EventDef, df: pd.DataFrame, read: _Lagged, branches: list[pd.Series], fired: pd.Series
) -> pd.DataFrame:
    """The fired rows of one event: direction, severity and the trigger JSON of every compared value."""
    rows = df.loc[fired, KEYS].copy()
    rows["event_type"], rows["family"] = event.name, event.family
    branch_holds = [holds[fired] for holds in branches]
    direction = _signal(event.direction, read)
    direction = (
        direction[fired] if isinstance(direction, pd.Series) else pd.Series(direction, index=rows.index)
    )
    if any(b.direction is not None for b in event.branches):
        # the first holding branch's fixed direction (0 for the first branch without one), else the event's
        chosen = direction.copy()
        for i in reversed(range(len(event.branches))):
            fixed = event.branches[i].direction
            value = float(fixed) if fixed is not None else (0.0 if i == 0 else direction)
            chosen = chosen.mask(branch_holds[i], value)
        direction = chosen
    rows["direction"] = direction.fillna(0.0).astype("int8")
    severity = _signal(event.severity, read)
    rows["severity"] = severity[fired] if isinstance(severity, pd.Series) else float(severity)
    compared = pd.DataFrame({(f"{n}_lag{k}" if k else n): read(n, k)[fired] for n, k in _values_read(event)})
    rows["trigger"] = [json.dumps(r) for r in compared.to_dict("records")] if len(compared.columns) else "{}"
    return rows


def _event_id(event_type: str, symbol: str, ts: pd.Timestamp) -> str:
    """sha256 of the canonical JSON ``[event_type, symbol, ts]`` (ts ISO-8601 in ms, UTC)."""
    text = json.dumps([event_type, symbol, ts.isoformat(timespec="milliseconds")], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def pandas_events(
    features: pd.DataFrame, context: pd.DataFrame | None, registry: EventRegistry | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(market_events, event_flags) by interpreting every spec/events rule on features + context rows."""
    registry = registry or load_event_registry()
    active = [e for e in registry.events if e.status == "active"]
    needed = {name for e in active for name in e.required_inputs}
    df = features[KEYS + [c for c in features.columns if c in needed and c not in KEYS]]
    if context is not None:
        extra = [c for c in context.columns if c in needed and c not in df.columns]
        # context has the features' (symbol, ts) rows: the backward as-of match is the exact-key match
        df = df.merge(context[KEYS + extra], on=KEYS, how="left")
    df = df.sort_values(KEYS).reset_index(drop=True)
    read = _Lagged(df)
    first_bar = read.by_symbol.cumcount() == 0
    flags = df[KEYS].copy()
    events = []
    for event in registry.events:
        if event.status != "active" or not set(event.required_inputs) <= set(df.columns):
            flags[event.name] = pd.array([pd.NA] * len(df), dtype="boolean")
            continue
        known = pd.concat([read(n, k).notna() for n, k in _values_read(event)], axis=1).all(axis=1)
        branches = [
            pd.concat([_condition(c, read) for c in b.conditions], axis=1).all(axis=1) for b in event.branches
        ]
        condition = pd.concat(branches, axis=1).any(axis=1)
        flag = condition.astype("boolean").where(known, pd.NA)
        if event.trigger == "onset":
            # holds now and was known false on the symbol's previous bar (unknown if that bar was not evaluable)
            prev_known = known.groupby(df["symbol"], sort=False).shift(1, fill_value=False) & ~first_bar
            prev_condition = condition.groupby(df["symbol"], sort=False).shift(1, fill_value=False)
            onset = (~prev_condition).astype("boolean").where(prev_known, pd.NA)
            flag = flag.where(~flag.fillna(False), onset)
        elif event.trigger != "level":
            raise ValueError(f"no pandas reference for trigger {event.trigger!r}")
        flags[event.name] = flag
        fired = flag.fillna(False).astype(bool)
        if fired.any():
            events.append(_event_rows(event, df, read, branches, fired))
    flags["ontology_hash"] = registry.ontology_hash
    out = pd.concat(events, ignore_index=True) if events else pd.DataFrame(columns=[*KEYS, "event_type"])
    out = out.sort_values([*KEYS, "event_type"], ignore_index=True)
    out.insert(
        0, "event_id", [_event_id(*r) for r in zip(out["event_type"], out["symbol"], out["ts"], strict=True)]
    )
    out["ontology_hash"] = registry.ontology_hash
    return out, flags


def pandas_chain(
    bars: pl.DataFrame | pd.DataFrame, families: tuple[str, ...] | None = None, bar_minutes: int | None = None
) -> int:
    """bars -> features_v1 -> context_features -> (market_events, event_flags) in pandas; total rows out."""
    features = pandas_features(bars, families, bar_minutes)
    context = pandas_context(features)
    events, flags = pandas_events(features, context)
    return len(features) + len(context) + len(events) + len(flags)
