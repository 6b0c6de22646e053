"""Stage B: the strict evaluation of Stage A survivors. Pure function over :class:`CandidateStreams`.

Per candidate, on its UTC-day after-cost returns (``daily.py``):
- PSR against ``psr_benchmark_sharpe`` and MinTRL (days), from the per-day Sharpe, skew and non-excess
  kurtosis.
- DSR: the expected maximum Sharpe of the trials is the PSR benchmark. The trial count is *everything tested*
  (``n_trials_total``, from the registry's trial ledger). V[SR] is the variance (ddof=1) of the trials'
  defined per-day Sharpes, given either as ``trial_sharpes_ann`` (then ``N_used = n_trials_total``, method
  ``all_trials``) or as the trials' own streams ``trial_streams`` (correlated trials collapsed: the effective
  count of the covered trials (``trials.effective_number_of_trials``) scaled to the total,
  ``N_used = N_eff · n_trials_total / n_covered``). The pipeline (``bridge.stages``) passes the Sharpes of
  every tested hypothesis of the RunSet: V[SR] from the trials that survived a selection would be biased low
  (see there). ``N = 1`` is no selection: the benchmark is 0 and needs no V[SR]. Otherwise, when no per-day
  benchmark can be formed the dsr gate fails for every candidate with the reason instead of raising:
  ``dsr_trial_variance_unestimable`` (fewer than 2 trials with a defined Sharpe) or
  ``dsr_expected_max_sharpe_out_of_range`` (V[SR] or E[max SR] above ``MAX_PER_PERIOD_SHARPE`` per day).
- CPCV (``cpcv.py``) over days (``n_groups``, ``n_test_groups``, ``embargo_days``): per split the candidate
  is taken on the test days only if its after-cost expectancy per trade over the split's (purged, embargoed)
  training days reaches ``min_train_expectancy_bps`` (the bridge's economic gate, ``spec/gates.yaml``
  ``bridge_v1.min_after_cost_expectancy_bps``), else it is flat there; so the φ(N, k) path Sharpes
  (annualized) are the out-of-sample performance of that decision. A path on which it is never taken earned
  nothing: it counts as Sharpe 0 in min/p10/p25/median and as a failed path in ``cpcv_share_negative`` (the
  share of paths with a negative or undefined Sharpe); its own Sharpe stays null in ``StageBCpcvPaths``.
  Per-candidate, not per event × symbol: selecting among sibling candidates on each split's training days
  would judge a family rather than the candidate this table reports, so it is not done here. The fold policy (group count, embargo, smallest test set, smallest purged training
  set in days) is validated against ``fold_policy``.
- Stationary block bootstrap (``bootstrap.py``) of the daily Sharpe and max drawdown.
- Stress: the caller re-runs each candidate through the backtest engine for every scenario of
  ``stress_scenarios`` (cost multiplier / extra latency applied by the engine; correlation spike and vol shock
  applied to the input panel with ``stress.py``) and passes the stressed streams by scenario name; every
  scenario's annualized Sharpe must reach ``min_stress_sharpe``. A missing scenario fails the gate when
  ``require_stress_results`` (never a silent pass).
Gates run in :data:`schemas.GATE_NAMES` order; each has a ``<gate>_passed`` and ``<gate>_reason`` column, the
funnel counts the candidates left after each gate, and the strict survivors pass all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from quant_platform.specs import load_yaml
from quant_platform.validation.bootstrap import stationary_bootstrap
from quant_platform.validation.cpcv import CombinatorialPurgedKFold, cpcv_path_sharpes
from quant_platform.validation.daily import coverage_groups, daily_returns, validate_streams
from quant_platform.validation.grouped import sorted_runs
from quant_platform.validation.schemas import (
    GATE_NAMES,
    GateFunnel,
    StageBCandidates,
    StageBCpcvPaths,
    StageBStress,
)
from quant_platform.validation.sharpe import (
    MAX_PER_PERIOD_SHARPE,
    SharpeUnits,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
)
from quant_platform.validation.stress import StressScenario, standard_scenarios
from quant_platform.validation.trials import effective_number_of_trials

RESAMPLED_COLUMNS: tuple[str, ...] = (
    "cpcv_sharpe_min",
    "cpcv_sharpe_p10",
    "cpcv_sharpe_p25",
    "cpcv_sharpe_median",
    "cpcv_share_negative",
    "bootstrap_sharpe_mean",
    "bootstrap_sharpe_std",
    "bootstrap_sharpe_p05",
    "bootstrap_share_negative_sharpe",
    "bootstrap_max_drawdown_median",
    "bootstrap_max_drawdown_p95",
)


@dataclass(frozen=True)
class StageBConfig:
    annualization_days: int
    min_days: int
    psr_benchmark_sharpe: float
    min_psr: float
    min_dsr: float
    cpcv_n_groups: int
    cpcv_n_test_groups: int
    cpcv_embargo_days: int
    fold_min_folds: int
    fold_min_embargo_days: int
    fold_min_test_days: int
    fold_min_train_days: int
    min_cpcv_p10_sharpe: float
    max_cpcv_share_negative: float
    bootstrap_n_resamples: int
    bootstrap_mean_block_days: float
    bootstrap_seed: int
    max_bootstrap_share_negative_sharpe: float
    min_stress_sharpe: float
    require_stress_results: bool
    effective_trials_method: str
    effective_trials_distance_threshold: float
    scenarios: tuple[StressScenario, ...]
    min_train_expectancy_bps: float

    @classmethod
    def from_spec(
        cls, spec: dict[str, Any] | None = None, gates: dict[str, Any] | None = None
    ) -> StageBConfig:
        spec = spec if spec is not None else load_yaml("validation.yaml")
        gates = gates if gates is not None else load_yaml("gates.yaml")
        b = spec["stage_b"]
        return cls(
            min_train_expectancy_bps=float(gates["bridge_v1"]["min_after_cost_expectancy_bps"]),
            annualization_days=int(spec["annualization_days"]),
            min_days=int(b["min_days"]),
            psr_benchmark_sharpe=float(b["psr_benchmark_sharpe"]),
            min_psr=float(b["min_psr"]),
            min_dsr=float(b["min_dsr"]),
            cpcv_n_groups=int(b["cpcv"]["n_groups"]),
            cpcv_n_test_groups=int(b["cpcv"]["n_test_groups"]),
            cpcv_embargo_days=int(b["cpcv"]["embargo_days"]),
            fold_min_folds=int(b["fold_policy"]["min_folds"]),
            fold_min_embargo_days=int(b["fold_policy"]["min_embargo_days"]),
            fold_min_test_days=int(b["fold_policy"]["min_test_days"]),
            fold_min_train_days=int(b["fold_policy"]["min_train_days"]),
            min_cpcv_p10_sharpe=float(b["min_cpcv_p10_sharpe"]),
            max_cpcv_share_negative=float(b["max_cpcv_share_negative"]),
            bootstrap_n_resamples=int(b["bootstrap"]["n_resamples"]),
            bootstrap_mean_block_days=float(b["bootstrap"]["mean_block_days"]),
            bootstrap_seed=int(b["bootstrap"]["seed"]),
            max_bootstrap_share_negative_sharpe=float(b["max_bootstrap_share_negative_sharpe"]),
            min_stress_sharpe=float(b["min_stress_sharpe"]),
            require_stress_results=bool(b["require_stress_results"]),
            effective_trials_method=str(b["effective_trials"]["method"]),
            effective_trials_distance_threshold=float(b["effective_trials"]["distance_threshold"]),
            scenarios=standard_scenarios(spec),
        )


@dataclass(frozen=True)
class StageBResult:
    candidates: pl.DataFrame  # StageBCandidates
    stress: pl.DataFrame  # StageBStress
    funnel: pl.DataFrame  # GateFunnel
    cpcv_paths: pl.DataFrame  # StageBCpcvPaths

    @property
    def survivors(self) -> pl.DataFrame:
        return self.candidates.filter(pl.col("passed"))


DSR_TRIAL_VARIANCE_UNESTIMABLE = "dsr_trial_variance_unestimable"
DSR_EXPECTED_MAX_SHARPE_OUT_OF_RANGE = "dsr_expected_max_sharpe_out_of_range"


@dataclass(frozen=True)
class TrialDeflation:
    """Trial count, V[SR] and the expected maximum Sharpe (per day) for the DSR. ``problem`` names why the DSR
    benchmark cannot be formed (then ``expected_max_sharpe`` is NaN and every candidate fails the dsr gate):
    :data:`DSR_TRIAL_VARIANCE_UNESTIMABLE` (fewer than 2 trials with a defined Sharpe) or
    :data:`DSR_EXPECTED_MAX_SHARPE_OUT_OF_RANGE` (V[SR] or E[max SR] beyond the plausible per-day range of
    ``sharpe.MAX_PER_PERIOD_SHARPE``, e.g. a few very different trials deflated over many: no per-day
    benchmark exists, and the DSR must not pass by accident)."""

    n_trials_total: int
    n_trials_used: float
    method: str
    sr_variance: float  # per-day; NaN when unestimable
    expected_max_sharpe: float  # per-day; NaN when problem is set
    problem: str | None = None


def _per_day_sharpe_frame(daily: pl.DataFrame) -> pl.DataFrame:
    """``candidate_id, n_days, sharpe_pp, skew, kurtosis`` of the UTC-day returns, sorted by candidate:
    per-day Sharpe mean / std (ddof=1; null with one day), biased skew and non-excess kurtosis — reduced
    in day order (``grouped.py``) so the same days always give the same bytes."""
    ordered, runs = sorted_runs(daily, ["candidate_id"], ["day"])
    moments = runs.moments(ordered["ret"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpe_pp = moments.mean / moments.std  # x/0 = ±inf and 0/0 = NaN, as polars divides
    return runs.keys.with_columns(
        pl.Series("n_days", moments.n, dtype=pl.Int64),
        pl.Series("sharpe_pp", sharpe_pp, dtype=pl.Float64),
        pl.Series("skew", moments.skew, dtype=pl.Float64),
        pl.Series("kurtosis", moments.kurtosis, dtype=pl.Float64),
    ).with_columns(pl.when(pl.col("n_days") >= 2).then(pl.col("sharpe_pp")).alias("sharpe_pp"))


def trial_deflation(
    n_trials_total: int,
    trial_sharpes_ann: np.ndarray | None,
    trial_streams: pl.DataFrame | None,
    config: StageBConfig,
) -> TrialDeflation:
    """Trial count and V[SR] for the DSR (see module docstring)."""
    if trial_streams is not None:
        trials = validate_streams(trial_streams, "trial_streams")
        daily = daily_returns(trials)
        sharpe_pp = _per_day_sharpe_frame(daily)["sharpe_pp"].fill_null(np.nan).to_numpy()
        wide = daily.pivot(on="day", index="candidate_id", values="ret", sort_columns=True).fill_null(0.0)
        matrix = wide.drop("candidate_id").to_numpy().astype(np.float64)
        n_covered = matrix.shape[0]
        if n_covered > n_trials_total:
            raise ValueError(f"trial_streams hold {n_covered} trials but n_trials_total is {n_trials_total}")
        varying = matrix.std(axis=1) > 0
        # A trial that never moved cannot be correlated; count it as its own trial (conservative).
        n_eff = float((~varying).sum())
        if varying.sum() >= 1:
            n_eff += effective_number_of_trials(
                matrix[varying],
                method=config.effective_trials_method,
                distance_threshold=config.effective_trials_distance_threshold,
            )
        n_used = n_eff * n_trials_total / n_covered
        method = f"effective_{config.effective_trials_method}" + (
            "" if n_covered == n_trials_total else "_scaled"
        )
    elif trial_sharpes_ann is not None:
        sharpe_pp = np.asarray(trial_sharpes_ann, dtype=np.float64) / np.sqrt(config.annualization_days)
        n_used, method = float(n_trials_total), "all_trials"
    else:
        raise ValueError(
            "stage_b_evaluate needs trial_streams or trial_sharpes_ann to estimate V[SR] for the DSR"
        )
    return _expected_max(int(n_trials_total), float(n_used), method, sharpe_pp)


def _expected_max(n_trials_total: int, n_used: float, method: str, sharpe_pp: np.ndarray) -> TrialDeflation:
    """V[SR] from the trials with a defined Sharpe (NaN = a trial that never moved or has one day) and the
    expected maximum; an infinite trial Sharpe makes the spread unbounded (out of range, not dropped). With
    one trial there is nothing to deflate by: V[SR] is reported as 0 and the benchmark is 0."""
    if n_used == 1.0:  # no selection: E[max SR] of one trial is its mean, 0 under the null
        return TrialDeflation(n_trials_total, n_used, method, 0.0, 0.0)
    defined = sharpe_pp[~np.isnan(sharpe_pp)]
    if defined.size < 2:
        return TrialDeflation(
            n_trials_total, n_used, method, float("nan"), float("nan"), DSR_TRIAL_VARIANCE_UNESTIMABLE
        )
    with np.errstate(invalid="ignore"):
        variance = float(np.var(defined, ddof=1)) if np.isfinite(defined).all() else float("inf")
    if not variance <= MAX_PER_PERIOD_SHARPE**2:  # also catches inf/NaN
        return TrialDeflation(
            n_trials_total, n_used, method, variance, float("nan"), DSR_EXPECTED_MAX_SHARPE_OUT_OF_RANGE
        )
    emax = float(expected_max_sharpe(variance, n_used, units=SharpeUnits.PER_PERIOD))
    if not abs(emax) <= MAX_PER_PERIOD_SHARPE:
        return TrialDeflation(
            n_trials_total, n_used, method, variance, float("nan"), DSR_EXPECTED_MAX_SHARPE_OUT_OF_RANGE
        )
    return TrialDeflation(n_trials_total, n_used, method, variance, emax)


def _cpcv_and_bootstrap(daily: pl.DataFrame, config: StageBConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """CPCV path-Sharpe summary, fold-policy numbers and bootstrap summary per candidate (vectorized per
    group of candidates sharing a day calendar), and every candidate's path Sharpes (StageBCpcvPaths)."""
    sqrt_ann = np.sqrt(config.annualization_days)
    cv = CombinatorialPurgedKFold(
        config.cpcv_n_groups, config.cpcv_n_test_groups, purge=True, embargo=config.cpcv_embargo_days
    )
    frames, path_frames = [], []
    for ids, _days, (matrix, entries) in coverage_groups(daily, ("ret", "entries")):
        n_c, n_d = matrix.shape
        out: dict[str, Any] = {"candidate_id": ids, "cpcv_n_paths": [cv.n_paths] * n_c}
        if n_d >= max(config.cpcv_n_groups, 3):
            splits = list(cv.split(np.empty(n_d)))
            min_test = min(t.size for _, t in splits)
            min_train = min(tr.size for tr, _ in splits)
            if min_train > 0:
                paths = (
                    cpcv_path_sharpes(
                        matrix,
                        cv,
                        trade_entries=entries,
                        min_train_expectancy=config.min_train_expectancy_bps / 1e4,
                    )
                    * sqrt_ann
                )
                path_frames.append(
                    pl.DataFrame(
                        {
                            "candidate_id": np.repeat(np.asarray(ids, dtype=object), paths.shape[1]).tolist(),
                            "path": np.tile(np.arange(paths.shape[1], dtype=np.int64), n_c),
                            "sharpe_ann": paths.ravel(),
                        }
                    ).with_columns(pl.col("sharpe_ann").fill_nan(None))
                )
                # A path never traded earned nothing: Sharpe 0 in the order statistics, failed in the share.
                earned = np.nan_to_num(paths, nan=0.0)
                q = np.quantile(earned, [0.10, 0.25, 0.50], axis=1)
                out |= {
                    "cpcv_sharpe_min": earned.min(axis=1),
                    "cpcv_sharpe_p10": q[0],
                    "cpcv_sharpe_p25": q[1],
                    "cpcv_sharpe_median": q[2],
                    "cpcv_share_negative": ((paths < 0) | np.isnan(paths)).mean(axis=1),
                }
            boot = stationary_bootstrap(
                matrix, config.bootstrap_n_resamples, config.bootstrap_mean_block_days, config.bootstrap_seed
            )
            boot_sr = boot.sharpe * sqrt_ann
            out |= {
                "bootstrap_sharpe_mean": np.nanmean(boot_sr, axis=1),
                "bootstrap_sharpe_std": np.nanstd(boot_sr, axis=1, ddof=1),
                "bootstrap_sharpe_p05": np.nanquantile(boot_sr, 0.05, axis=1),
                "bootstrap_share_negative_sharpe": (boot_sr < 0).mean(axis=1),
                "bootstrap_max_drawdown_median": np.median(boot.max_drawdown, axis=1),
                "bootstrap_max_drawdown_p95": np.quantile(boot.max_drawdown, 0.95, axis=1),
            }
        else:
            min_test, min_train = 0, 0
        out |= {"fold_min_test_days": [int(min_test)] * n_c, "fold_min_train_days": [int(min_train)] * n_c}
        frames.append(pl.DataFrame(out))
    paths = pl.concat(path_frames) if path_frames else pl.DataFrame(schema=PATH_COLUMNS)
    return pl.concat(frames, how="diagonal_relaxed"), paths


PATH_COLUMNS = {"candidate_id": pl.String, "path": pl.Int64, "sharpe_ann": pl.Float64}


def _stress_table(
    candidate_ids: list[str], stressed_streams: Mapping[str, pl.DataFrame] | None, config: StageBConfig
) -> pl.DataFrame:
    sqrt_ann = np.sqrt(config.annualization_days)
    stressed_streams = stressed_streams or {}
    unknown = set(stressed_streams) - {s.name for s in config.scenarios}
    if unknown:
        raise ValueError(
            f"stressed_streams has unknown scenarios {sorted(unknown)}; known: {config.scenarios}"
        )
    base = pl.DataFrame({"candidate_id": candidate_ids})
    frames = []
    for scenario in config.scenarios:
        if scenario.name in stressed_streams:
            frame = validate_streams(stressed_streams[scenario.name], f"stressed_streams[{scenario.name!r}]")
            stats = _per_day_sharpe_frame(daily_returns(frame)).select(
                "candidate_id", "n_days", (pl.col("sharpe_pp").fill_nan(None) * sqrt_ann).alias("sharpe_ann")
            )
            table = base.join(stats, on="candidate_id", how="left").with_columns(
                pl.col("n_days").is_not_null().alias("evaluated")
            )
        else:
            table = base.with_columns(
                pl.lit(None, pl.Int64).alias("n_days"),
                pl.lit(None, pl.Float64).alias("sharpe_ann"),
                pl.lit(False).alias("evaluated"),
            )
        frames.append(
            table.with_columns(
                pl.lit(scenario.name).alias("scenario"),
                pl.col("n_days").fill_null(0),
                (pl.col("sharpe_ann").fill_null(-np.inf) >= config.min_stress_sharpe).alias("passed"),
            )
        )
    return pl.concat(frames).select(list(StageBStress.to_schema().columns)).sort("candidate_id", "scenario")


def _gate(passed: pl.Expr, reasons: list[tuple[pl.Expr, str | pl.Expr]], name: str) -> list[pl.Expr]:
    reason = pl.concat_str(
        [pl.when(cond).then(text if isinstance(text, pl.Expr) else pl.lit(text)) for cond, text in reasons],
        separator=";",
        ignore_nulls=True,
    )
    reason = pl.when(reason == "").then(None).otherwise(reason)
    return [passed.fill_null(False).alias(f"{name}_passed"), reason.alias(f"{name}_reason")]


def stage_b_evaluate(
    streams: pl.DataFrame,
    n_trials_total: int,
    *,
    trial_sharpes_ann: np.ndarray | None = None,
    trial_streams: pl.DataFrame | None = None,
    stressed_streams: Mapping[str, pl.DataFrame] | None = None,
    config: StageBConfig | None = None,
) -> StageBResult:
    """Evaluate every candidate of ``streams``; see the module docstring for each statistic and gate.

    ``n_trials_total``: every trial tested for this RunSet (>= the number of candidates here).
    ``trial_sharpes_ann``: annualized daily Sharpes of the trials (V[SR]), or ``trial_streams``: the trials'
    own :class:`CandidateStreams` (V[SR] and the effective trial count). ``stressed_streams``: scenario name →
    the engine's stressed :class:`CandidateStreams` of these candidates.
    """
    config = config or StageBConfig.from_spec()
    streams = validate_streams(streams)
    if streams.is_empty():
        raise ValueError("stage_b_evaluate got no rows")
    daily = daily_returns(streams)
    moments = _per_day_sharpe_frame(daily).sort("candidate_id")
    ids = moments["candidate_id"].to_list()
    if n_trials_total < len(ids):
        raise ValueError(f"n_trials_total={n_trials_total} is below the {len(ids)} candidates evaluated here")
    deflation = trial_deflation(n_trials_total, trial_sharpes_ann, trial_streams, config)
    sqrt_ann = np.sqrt(config.annualization_days)

    sr = moments["sharpe_pp"].fill_null(np.nan).to_numpy().astype(float)
    skew = moments["skew"].fill_null(np.nan).to_numpy().astype(float)
    kurt = moments["kurtosis"].fill_null(np.nan).to_numpy().astype(float)
    n_days = moments["n_days"].to_numpy().astype(float)
    with np.errstate(invalid="ignore"):
        usable = (
            np.isfinite(sr)
            & (np.abs(sr) <= MAX_PER_PERIOD_SHARPE)
            & (n_days >= 2)
            & (1 - skew * sr + (kurt - 1) / 4 * sr**2 > 0)
        )
    sr_u = np.where(usable, sr, np.nan)
    skew_u, kurt_u = np.where(usable, skew, 0.0), np.where(usable, kurt, 3.0)
    n_u = np.where(usable, n_days, 2.0)
    bench_pp = config.psr_benchmark_sharpe / sqrt_ann
    psr = probabilistic_sharpe_ratio(sr_u, bench_pp, n_u, skew_u, kurt_u, units=SharpeUnits.PER_PERIOD)
    min_trl = min_track_record_length(
        np.where(usable, sr, 0.0), bench_pp, skew_u, kurt_u, 0.95, units=SharpeUnits.PER_PERIOD
    )
    if deflation.problem is None:
        dsr = deflated_sharpe_ratio(
            sr_u,
            n_u,
            skew_u,
            kurt_u,
            deflation.n_trials_used,
            deflation.sr_variance,
            units=SharpeUnits.PER_PERIOD,
        )
    else:
        dsr = np.full(sr.shape, np.nan)
    emax_ann = deflation.expected_max_sharpe * sqrt_ann

    stats = moments.select(
        "candidate_id",
        "n_days",
        (pl.col("sharpe_pp").fill_nan(None) * sqrt_ann).alias("sharpe_ann"),
        pl.col("skew").fill_nan(None),
        pl.col("kurtosis").fill_nan(None),
    ).with_columns(
        pl.Series("psr", psr).fill_nan(None),
        pl.Series("min_trl_days", np.where(usable, min_trl, np.nan)).fill_nan(None),
        pl.Series("dsr", dsr).fill_nan(None),
        pl.lit(deflation.n_trials_total, pl.Int64).alias("dsr_n_trials_total"),
        pl.lit(deflation.n_trials_used).alias("dsr_n_trials_used"),
        pl.lit(deflation.method).alias("dsr_trial_count_method"),
        pl.lit(emax_ann, pl.Float64).fill_nan(None).alias("dsr_expected_max_sharpe_ann"),
        pl.lit(deflation.problem, pl.Utf8).alias("dsr_problem"),
        pl.Series("usable", usable),
    )
    resampled, cpcv_paths = _cpcv_and_bootstrap(daily, config)
    stress = _stress_table(ids, stressed_streams, config)
    stress_summary = stress.group_by("candidate_id", maintain_order=True).agg(
        pl.col("sharpe_ann").filter(pl.col("evaluated")).min().alias("stress_min_sharpe"),
        pl.col("evaluated").sum().cast(pl.Int64).alias("stress_n_evaluated"),
        pl.col("scenario").filter(~pl.col("evaluated")).str.join(",").alias("stress_missing"),
        pl.col("scenario")
        .filter(pl.col("evaluated") & ~pl.col("passed"))
        .str.join(",")
        .alias("stress_failed"),
    )
    frame = (
        stats.join(resampled, on="candidate_id", how="left")
        .join(stress_summary, on="candidate_id", how="left")
        .with_columns(
            pl.lit(config.cpcv_n_groups, pl.Int64).alias("fold_n_groups"),
            pl.lit(config.cpcv_n_test_groups, pl.Int64).alias("fold_n_test_groups"),
            pl.lit(config.cpcv_embargo_days, pl.Int64).alias("fold_embargo_days"),
        )
    )
    # Candidates too short for CPCV/bootstrap get nulls (their gates then fail with a reason).
    frame = frame.with_columns(
        pl.lit(None, pl.Float64).alias(column) for column in RESAMPLED_COLUMNS if column not in frame.columns
    )
    c = pl.col
    has_stress_missing = c("stress_missing").fill_null("") != ""
    has_stress_failed = c("stress_failed").fill_null("") != ""
    gates = [
        *_gate(
            c("n_days") >= config.min_days,
            [(c("n_days") < config.min_days, "insufficient_observation")],
            "observation",
        ),
        *_gate(
            (c("fold_n_groups") >= config.fold_min_folds)
            & (c("fold_embargo_days") >= config.fold_min_embargo_days)
            & (c("fold_min_test_days") >= config.fold_min_test_days)
            & (c("fold_min_train_days") >= config.fold_min_train_days),
            [
                (c("fold_n_groups") < config.fold_min_folds, "fold_count_below_min"),
                (c("fold_embargo_days") < config.fold_min_embargo_days, "embargo_below_min"),
                (c("fold_min_test_days") < config.fold_min_test_days, "test_days_below_min"),
                (c("fold_min_train_days") < config.fold_min_train_days, "train_days_below_min"),
            ],
            "fold_policy",
        ),
        *_gate(
            c("psr") >= config.min_psr,
            [(~c("usable"), "sharpe_moments_unusable"), (c("psr") < config.min_psr, "psr_below_min")],
            "psr",
        ),
        *_gate(
            c("dsr") >= config.min_dsr,
            [
                (~c("usable"), "sharpe_moments_unusable"),
                (c("dsr_problem").is_not_null(), c("dsr_problem")),
                (c("dsr") < config.min_dsr, "dsr_below_min"),
            ],
            "dsr",
        ),
        *_gate(
            (c("cpcv_sharpe_p10") >= config.min_cpcv_p10_sharpe)
            & (c("cpcv_share_negative") <= config.max_cpcv_share_negative),
            [
                (c("cpcv_sharpe_p10").is_null(), "cpcv_not_computable"),
                (c("cpcv_sharpe_p10") < config.min_cpcv_p10_sharpe, "cpcv_p10_below_min"),
                (c("cpcv_share_negative") > config.max_cpcv_share_negative, "cpcv_share_negative_above_max"),
            ],
            "cpcv",
        ),
        *_gate(
            c("bootstrap_share_negative_sharpe") <= config.max_bootstrap_share_negative_sharpe,
            [
                (c("bootstrap_share_negative_sharpe").is_null(), "bootstrap_not_computable"),
                (
                    c("bootstrap_share_negative_sharpe") > config.max_bootstrap_share_negative_sharpe,
                    "bootstrap_share_negative_above_max",
                ),
            ],
            "bootstrap",
        ),
        *_gate(
            ~has_stress_failed & (~has_stress_missing if config.require_stress_results else pl.lit(True)),
            [
                (
                    has_stress_missing & pl.lit(config.require_stress_results),
                    pl.format("stress_not_evaluated:{}", c("stress_missing")),
                ),
                (has_stress_failed, pl.format("stress_sharpe_below_min:{}", c("stress_failed"))),
            ],
            "stress",
        ),
    ]
    frame = frame.with_columns(gates)
    frame = frame.with_columns(
        pl.all_horizontal([c(f"{g}_passed") for g in GATE_NAMES]).alias("passed"),
        pl.concat_str([c(f"{g}_reason") for g in GATE_NAMES], separator=";", ignore_nulls=True)
        .fill_null("")
        .alias("failure_reasons"),
    )
    candidates = frame.select(
        [pl.col(n).cast(t) if n != "candidate_id" else pl.col(n) for n, t in _schema_dtypes().items()]
    ).sort("candidate_id")
    return StageBResult(
        candidates=StageBCandidates.validate(candidates),
        stress=StageBStress.validate(stress),
        funnel=GateFunnel.validate(gate_funnel(candidates)),
        cpcv_paths=StageBCpcvPaths.validate(cpcv_paths.sort("candidate_id", "path")),
    )


def _schema_dtypes() -> dict[str, pl.DataType]:
    schema = StageBCandidates.to_schema()
    return {name: column.dtype.type for name, column in schema.columns.items()}


def gate_funnel(candidates: pl.DataFrame) -> pl.DataFrame:
    """Counts at each gate (``input`` first): alone, and cumulatively in gate order."""
    rows = [{"order": 0, "gate": "input", "n_passed": candidates.height, "n_remaining": candidates.height}]
    remaining = pl.lit(True)
    for order, gate in enumerate(GATE_NAMES, start=1):
        passed = pl.col(f"{gate}_passed")
        remaining = remaining & passed
        counts = candidates.select(passed.sum().alias("alone"), remaining.sum().alias("cumulative")).row(0)
        rows.append({"order": order, "gate": gate, "n_passed": int(counts[0]), "n_remaining": int(counts[1])})
    return pl.DataFrame(
        rows, schema={"order": pl.Int64, "gate": pl.Utf8, "n_passed": pl.Int64, "n_remaining": pl.Int64}
    )
