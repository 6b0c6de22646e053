"""Governance layer (unpartitioned): the ``champion`` asset.

Materializing it gathers the candidates (the strategy blueprints — compiled Stage B survivors — of the configured
RunSets, or of every RunSet that has them), evaluates the real-data gate on the registry's run observations and records one decision
in the promotion ledger (``quant_platform.governance``). A re-materialization on the same inputs records nothing
new and shows the same decision. Its table is every candidate's state after the decision; its metadata shows the
champion (and whether it is prod-gated), the decision with its reason codes, the funnel of candidates through
the gate, and the champion history.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
from pydantic import Field

from quant_platform.core.timeutil import parse_day
from quant_platform.defs.checks import schema_check_result, schema_check_spec
from quant_platform.defs.io_manager import parquet_output
from quant_platform.defs.registry import Registry
from quant_platform.defs.tables import markdown_table
from quant_platform.governance.config import GovernanceSpec
from quant_platform.governance.decide import Override
from quant_platform.governance.schemas import ChampionStates
from quant_platform.governance.service import (
    CANDIDATES_ASSET,
    GATE_COLUMNS,
    HISTORY_COLUMNS,
    STATE_EVENT_COLUMNS,
    champion_summary,
    read_candidates,
    run_decision,
)
from quant_platform.storage.store import ParquetStore

CANDIDATES_CHECK = "candidates_present"


class ChampionConfig(dg.Config):
    """Which candidates to consider and as of which day; an override widens the gate's provenance filters
    and is recorded (the champion is then labelled as not prod-gated)."""

    runsets: list[str] = Field(
        default_factory=list
    )  # RunSet partitions whose strategy blueprints are candidates; empty: every RunSet
    as_of_day: str | None = None  # YYYY-MM-DD; default: the UTC day that just ended
    override_run_sources: list[str] = Field(default_factory=list)
    override_score_sources: list[str] = Field(default_factory=list)
    override_data_regimes: list[str] = Field(default_factory=list)
    override_reason: str = ""
    # Population stability index per candidate id, measured by the caller on the live inputs or predictions
    # against the candidate's training window (quant_platform.governance.drift); above rollback.max_psi the
    # live champion is rolled back.
    drift_psi: dict[str, float] = Field(default_factory=dict)


def _override(config: ChampionConfig) -> Override | None:
    opt_in = {
        "run_source": config.override_run_sources,
        "score_source": config.override_score_sources,
        "data_regime": config.override_data_regimes,
    }
    if not any(opt_in.values()) and not config.override_reason:
        return None
    return Override(opt_in={k: v for k, v in opt_in.items() if v}, reason=config.override_reason)


@dg.asset(
    group_name="governance",
    deps=[dg.AssetDep(CANDIDATES_ASSET, partition_mapping=dg.AllPartitionMapping())],
    check_specs=[
        schema_check_spec("champion", ChampionStates),
        dg.AssetCheckSpec(
            CANDIDATES_CHECK,
            asset="champion",
            description="The decision had candidates to judge (WARN naming the blueprint versions read when "
            "none: a decision without candidates is recorded, never shown as a green nothing).",
        ),
    ],
    description="Champion governance: the real-data gate on prod runs (sharpe_daily only), the promotion ladder "
    "shadow → canary → live, rollback triggers, and an append-only promotion ledger in the registry.",
)
def champion(context: dg.AssetExecutionContext, config: ChampionConfig, registry: Registry):
    library = registry.library()
    store = ParquetStore(registry.store_root)
    spec = GovernanceSpec.from_spec()
    candidates, lineage = read_candidates(library, store, config.runsets, spec.feature_payload_schema_version)
    as_of = (
        parse_day(config.as_of_day) if config.as_of_day else (datetime.now(UTC) - timedelta(days=1)).date()
    )
    outcome = run_decision(
        library, candidates, as_of, spec=spec, override=_override(config), drift=dict(config.drift_psi)
    )
    decision = outcome.decision
    summary = champion_summary(library)
    states = pl.DataFrame(
        summary["states"],
        schema={
            "candidate_id": pl.String(),
            "state": pl.String(),
            "allocation": pl.Float64(),
            "since": pl.Date(),
            "since_decision": pl.Int64(),
            "prod_gated": pl.Boolean(),
        },
    ).select(
        pl.lit(decision["decision_seq"], pl.Int64).alias("decision_seq"),
        pl.lit(decision["decision_id"]).alias("decision_id"),
        pl.all(),
    )
    champion_id = summary["champion"]
    label = (
        "none"
        if champion_id is None
        else f"{champion_id}" + ("" if summary["champion_prod_gated"] else " (NOT prod-gated: override)")
    )
    funnel = decision["detail"].get("funnel", {})
    yield parquet_output(
        context,
        states,
        metadata={
            "champion": label,
            "decision": f"{decision['decision']} ({', '.join(decision['reason_codes'])})",
            "decision_seq": decision["decision_seq"],
            "recorded": "new decision" if outcome.written else "same inputs as the ledger head: nothing new",
            "as_of_day": str(decision["as_of_day"]),
            "prod_gated": decision["prod_gated"],
            "override": dg.MetadataValue.json(decision["override"] or {}),
            "gate_filters": dg.MetadataValue.json(decision["detail"].get("filters", {})),
            "candidates_considered": candidates.height,
            "funnel": dg.MetadataValue.md(
                markdown_table([funnel], list(funnel)) if funnel else "_no admission step_"
            ),
            "gate_verdicts": dg.MetadataValue.md(
                markdown_table(
                    decision["gates"],
                    GATE_COLUMNS,
                )
            ),
            "state_events": dg.MetadataValue.md(
                markdown_table(
                    decision["state_events"],
                    STATE_EVENT_COLUMNS,
                )
            ),
            "champion_history": dg.MetadataValue.md(
                markdown_table(
                    summary["history"],
                    HISTORY_COLUMNS,
                )
            ),
            "candidates_read": dg.MetadataValue.json(lineage),
        },
        partition_column="since",
    )
    yield schema_check_result("champion", ChampionStates, states)
    yield dg.AssetCheckResult(
        asset_key="champion",
        check_name=CANDIDATES_CHECK,
        passed=candidates.height > 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "candidates": candidates.height,
            "blueprint_versions_read": dg.MetadataValue.json(lineage),
        },
    )


defs = dg.Definitions(assets=[champion])
