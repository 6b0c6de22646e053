"""Every output carries the ontology hash of the spec it was computed with, not the default spec's."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from quant_platform.events import detect_events
from quant_platform.events.registry import load_event_registry
from quant_platform.features import compute_context, compute_features
from quant_platform.features.spec import load_feature_spec
from quant_platform.specs import compute_ontology_hash, ontology_hash, spec_root
from quant_platform_tests.features.bars_fixture import make_bars


def test_outputs_carry_the_hash_of_a_custom_spec(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    shutil.copytree(spec_root(), root)
    context_file = root / "features" / "context.yaml"
    doc = yaml.safe_load(context_file.read_text())
    doc["description"] = "a researcher's variant of the context spec"
    context_file.write_text(yaml.safe_dump(doc))
    custom = compute_ontology_hash(root)
    assert custom != ontology_hash()

    spec, registry = load_feature_spec(root), load_event_registry(root)
    bars = make_bars(n_symbols=3, n_bars=1300, seed=11, gap_prob=0.0)
    features = compute_features(bars, spec)
    context = compute_context(features, spec)
    events, flags = detect_events(features, context, registry)
    assert events.height > 0
    for name, frame in (("features", features), ("context", context), ("events", events), ("flags", flags)):
        assert frame["ontology_hash"].unique().to_list() == [custom], name

    # The default spec still stamps the default root's hash.
    assert compute_features(bars)["ontology_hash"].unique().to_list() == [ontology_hash()]
