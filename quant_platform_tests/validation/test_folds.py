"""Fold generators against a brute-force reference and leakage properties (hypothesis)."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_platform.validation.cpcv import CombinatorialPurgedKFold, assemble_path_returns
from quant_platform.validation.folds import (
    AnchoredTemporalFolds,
    PurgedKFold,
    WalkForward,
    embargo_count,
)


@st.composite
def label_spans(draw, min_n: int = 8, max_n: int = 60):
    n = draw(st.integers(min_n, max_n))
    steps = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    start = np.cumsum(steps)
    durations = np.array(draw(st.lists(st.integers(0, 12), min_size=n, max_size=n)))
    return start, start + durations


def overlaps(a0, a1, b0, b1) -> bool:
    return a0 <= b1 and b0 <= a1


def reference_train(n, test, start, end, *, after=0, before=0, purge=True):
    """Brute force from the definitions, per contiguous test block (loops only, no searchsorted):
    purge every sample whose label overlaps a test label; embargo after a block (López de Prado, AFML 7.4.2):
    training resumes at the first sample whose label starts after the block's latest label end, plus `after`
    samples; gap before a block (forward-only folds): the `before` samples up to and including the last one
    whose label ends before the block's first label starts."""
    test_set = set(test.tolist())
    blocks, current = [], []
    for i in sorted(test_set):
        if current and i != current[-1] + 1:
            blocks.append(current)
            current = []
        current.append(i)
    if current:
        blocks.append(current)
    dropped = set()
    for block in blocks:
        first, last = block[0], block[-1]
        latest_end = max(end[i] for i in block)
        resume = next((k for k in range(n) if start[k] > latest_end), n)
        if after:  # (with purging on, the samples before `resume` are purged anyway)
            dropped |= {j for j in range(last + 1, n) if j < resume + after}
        if before:
            boundary = max((k + 1 for k in range(first) if end[k] < start[first]), default=0)
            dropped |= {j for j in range(first) if boundary - before <= j}
    keep = []
    for j in range(n):
        if j in test_set or j in dropped:
            continue
        if purge and any(overlaps(start[j], end[j], start[i], end[i]) for i in test_set):
            continue
        keep.append(j)
    return np.array(keep, dtype=np.int64)


def assert_embargo_beyond_purging(train, test, start, end, after):
    """The `after` samples that follow the first sample starting after the test labels end are never
    trained on, even when long labels make purging already drop everything up to there."""
    train_set, n = set(train.tolist()), start.size
    blocks = np.split(np.sort(test), np.flatnonzero(np.diff(np.sort(test)) != 1) + 1)
    for block in blocks:
        latest_end = end[block].max()
        resume = next((k for k in range(n) if start[k] > latest_end), n)
        for j in range(resume, min(n, resume + after)):
            assert j not in train_set, (j, resume, after)


def assert_no_leakage(train, test, start, end):
    for j in train:
        for i in test:
            assert not overlaps(start[j], end[j], start[i], end[i]), (j, i)


@settings(max_examples=60, deadline=None)
@given(spans=label_spans(), n_splits=st.integers(2, 5), embargo=st.integers(0, 4))
def test_purged_kfold_matches_reference_and_never_leaks(spans, n_splits, embargo):
    start, end = spans
    n = start.size
    splits = list(PurgedKFold(n_splits, embargo).split(label_start=start, label_end=end))
    assert len(splits) == n_splits
    tests = np.concatenate([t for _, t in splits])
    assert np.array_equal(np.sort(tests), np.arange(n))  # every sample tested exactly once
    for train, test in splits:
        np.testing.assert_array_equal(train, reference_train(n, test, start, end, after=embargo))
        assert_no_leakage(train, test, start, end)
        assert_embargo_beyond_purging(train, test, start, end, embargo)


@settings(max_examples=60, deadline=None)
@given(spans=label_spans(), n_folds=st.integers(1, 4), embargo=st.integers(0, 4))
def test_anchored_folds_expand_and_match_reference(spans, n_folds, embargo):
    start, end = spans
    n = start.size
    splits = list(AnchoredTemporalFolds(n_folds, embargo).split(label_start=start, label_end=end))
    assert len(splits) == n_folds
    previous_test_end = -1
    for train, test in splits:
        assert test[0] == previous_test_end + 1 or previous_test_end == -1
        previous_test_end = test[-1]
        assert train.size == 0 or train.max() < test.min()  # forward only
        ref = reference_train(n, test, start, end, before=embargo)
        np.testing.assert_array_equal(train, ref[ref < test.min()])
        assert_no_leakage(train, test, start, end)
    assert previous_test_end == n - 1


@settings(max_examples=40, deadline=None)
@given(
    spans=label_spans(min_n=20),
    train_size=st.integers(3, 10),
    test_size=st.integers(1, 5),
    step=st.integers(1, 5),
    embargo=st.integers(0, 3),
)
def test_walk_forward_windows(spans, train_size, test_size, step, embargo):
    start, end = spans
    n = start.size
    wf = WalkForward(train_size, test_size, step, embargo)
    splits = list(wf.split(label_start=start, label_end=end))
    assert len(splits) == wf.get_n_splits(start)
    for k, (train, test) in enumerate(splits):
        assert test[0] == train_size + k * step and test.size == test_size
        window = np.arange(test[0] - train_size, test[0])
        ref = reference_train(n, test, start, end, before=embargo)
        np.testing.assert_array_equal(train, np.intersect1d(ref, window))
        assert_no_leakage(train, test, start, end)


@settings(max_examples=40, deadline=None)
@given(
    spans=label_spans(min_n=12),
    n_groups=st.integers(3, 7),
    k=st.integers(1, 3),
    embargo=st.integers(0, 3),
    purge=st.booleans(),
)
def test_cpcv_counts_paths_and_leakage(spans, n_groups, k, embargo, purge):
    if k >= n_groups:
        k = n_groups - 1
    start, end = spans
    n = start.size
    cv = CombinatorialPurgedKFold(n_groups, k, purge=purge, embargo=embargo)
    splits = list(cv.split(label_start=start, label_end=end))
    assert len(splits) == comb(n_groups, k) == cv.get_n_splits()
    assert cv.n_paths == k * comb(n_groups, k) // n_groups == comb(n_groups - 1, k - 1)
    times_tested = np.zeros(n, dtype=int)
    for train, test in splits:
        times_tested[test] += 1
        np.testing.assert_array_equal(train, reference_train(n, test, start, end, after=embargo, purge=purge))
        if purge:
            assert_no_leakage(train, test, start, end)
        assert_embargo_beyond_purging(train, test, start, end, embargo)
    assert (times_tested == comb(n_groups - 1, k - 1)).all()
    # Paths: each path uses each group exactly once, and every (split, group) test cell exactly once overall.
    matrix = cv.path_split_matrix()
    assert matrix.shape == (cv.n_paths, n_groups)
    sets = cv.test_group_sets()
    cells = {(int(matrix[p, g]), g) for p in range(cv.n_paths) for g in range(n_groups)}
    assert len(cells) == cv.n_paths * n_groups
    assert all(g in sets[s] for s, g in cells)


def test_assemble_path_returns_places_each_split_value():
    n, cv = 23, CombinatorialPurgedKFold(5, 2)
    splits = list(cv.split(np.empty(n)))
    # Encode (split, position) in the value so the assembly can be checked cell by cell.
    values = [1000.0 * s + test for s, (_, test) in enumerate(splits)]
    paths = assemble_path_returns(cv, n, values)
    bounds = cv.group_bounds(n)
    matrix = cv.path_split_matrix()
    for p in range(cv.n_paths):
        for g in range(5):
            lo, hi = bounds[g]
            np.testing.assert_array_equal(paths[p, lo:hi], 1000.0 * matrix[p, g] + np.arange(lo, hi))


def test_embargo_rule_and_bad_inputs():
    assert embargo_count(3, 100) == 3
    assert embargo_count(0.01, 100) == 1
    assert embargo_count(0.011, 100) == 2  # fractions round up
    assert embargo_count(0.0, 100) == 0
    with pytest.raises(ValueError, match="embargo"):
        embargo_count(1.5, 100)
    with pytest.raises(ValueError, match="embargo"):
        embargo_count(-1, 100)
    with pytest.raises(ValueError, match="sorted"):
        list(PurgedKFold(2).split(label_start=np.array([2, 1, 3]), label_end=np.array([2, 1, 3])))
    with pytest.raises(ValueError, match="label_end < label_start"):
        list(PurgedKFold(2).split(label_start=np.array([1, 2, 3]), label_end=np.array([1, 1, 3])))
    with pytest.raises(ValueError, match="n_test_groups"):
        CombinatorialPurgedKFold(4, 4)


def test_datetime_label_spans_work():
    start = np.array("2024-01-01T00:00", dtype="datetime64[ms]") + np.arange(30) * np.timedelta64(5, "m")
    end = start + np.timedelta64(12, "m")  # each label spans its bar and the next two
    for train, test in PurgedKFold(3).split(label_start=start, label_end=end):
        assert_no_leakage(train, test, start, end)
        # Labels 12 minutes long overlap the two neighbours on each side of a test block.
        if test[0] > 0:
            assert test[0] - 1 not in train and test[0] - 2 not in train and test[0] - 3 in train


def test_cpcv_path_sharpes_match_split_loop_reference():
    """Vectorized path Sharpes (prefix sums) against a loop: fit the sign on each split's training samples,
    trade the test samples, assemble the paths, take the Sharpe of each path."""
    from quant_platform.validation.cpcv import cpcv_path_sharpes

    rng = np.random.default_rng(8)
    n = 203
    returns = rng.normal(0.0, 1.0, size=(5, n)) + np.array([0.3, 0.0, -0.2, 0.05, 0.0])[:, None]
    start = np.arange(n)
    end = start + 3  # labels span 4 samples: purging matters
    cv = CombinatorialPurgedKFold(6, 2, embargo=2)
    got = cpcv_path_sharpes(returns, cv, label_start=start, label_end=end)
    splits = list(cv.split(label_start=start, label_end=end))
    per_split = [
        np.sign(returns[:, train].mean(axis=1))[:, None] * returns[:, test] for train, test in splits
    ]
    paths = assemble_path_returns(cv, n, per_split)  # (n_paths, n_streams, n)
    expected = (paths.mean(axis=2) / paths.std(axis=2, ddof=1)).T
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert got.shape == (5, cv.n_paths)
    assert (got[0] > 0).all()  # the strong positive stream is positive on every path
    # Without sign fitting every path is the raw series.
    raw = cpcv_path_sharpes(returns, cv, fit_sign=False)
    np.testing.assert_allclose(
        raw, np.repeat((returns.mean(1) / returns.std(1, ddof=1))[:, None], cv.n_paths, 1)
    )


def test_splitters_plug_into_sklearn():
    sklearn_model_selection = pytest.importorskip("sklearn.model_selection")
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=120)
    for cv in (
        PurgedKFold(4, embargo=2),
        AnchoredTemporalFolds(3, embargo=1),
        CombinatorialPurgedKFold(5, 2),
    ):
        scores = sklearn_model_selection.cross_val_score(linear_model.LinearRegression(), X, y, cv=cv)
        assert scores.shape == (cv.get_n_splits(),) and (scores > 0.9).all()


def test_embargo_counts_from_the_last_test_label_end_not_the_last_test_position():
    """Planted case from the definition: labels span 10 samples, embargo 3. Counting from the last test
    position would remove nothing beyond purging (the 10 samples after the block overlap it anyway); López de
    Prado's embargo removes 3 more after the first sample that starts after the block's labels end."""
    n, span, embargo = 60, 10, 3
    start = np.arange(n)
    end = start + span - 1
    test = np.arange(20, 30)  # PurgedKFold(6) fold 2 of 60 samples
    (train, got_test), *_ = [
        (tr, te) for tr, te in PurgedKFold(6, embargo).split(label_start=start, label_end=end) if te[0] == 20
    ]
    np.testing.assert_array_equal(got_test, test)
    # Last test label ends at 38, so the first clean sample is 39; the embargo drops 39, 40, 41.
    assert not {*range(30, 42)} & set(train.tolist())
    assert 42 in train
    # Forward-only mirror: before the block, labels of samples 11..19 reach sample 20, so the last clean
    # sample is 10, and the gap drops 8, 9, 10.
    folds = AnchoredTemporalFolds(2, embargo).split(label_start=start, label_end=end)
    train_a, test_a = next(folds)
    assert test_a[0] == 20 and train_a.max() == 7


def test_cpcv_economic_decision_matches_split_loop_and_is_out_of_sample():
    """Economic take-or-flat decision per split (Stage B's CPCV) against a loop over the splits written from
    the definition: taken iff the training samples' return per trade reaches the threshold. Planted truth: a
    stream that is good only in the first half is not taken in splits trained mostly on the second half, so
    its paths differ (the old sign fit traded it on every path); an always-good stream is taken everywhere."""
    from quant_platform.validation.cpcv import cpcv_path_sharpes

    rng = np.random.default_rng(21)
    n, threshold = 240, 0.0002
    drift = np.zeros((4, n))
    drift[0] = 0.002  # good everywhere
    drift[1, : n // 2] = 0.004  # good in the first half only, losing afterwards
    drift[1, n // 2 :] = -0.003
    drift[3] = -0.005  # never worth taking
    returns = drift + rng.normal(0.0, 0.01, size=(4, n))
    entries = rng.integers(0, 3, size=(4, n)).astype(float)
    entries[2, :] = 0.0  # stream 2 never trades: never taken, every path undefined
    cv = CombinatorialPurgedKFold(6, 2, embargo=2)
    got = cpcv_path_sharpes(returns, cv, trade_entries=entries, min_train_expectancy=threshold)

    splits = list(cv.split(np.empty(n)))
    per_split = []
    for train, test in splits:
        trades = entries[:, train].sum(axis=1)
        taken = np.array(
            [t > 0 and returns[i, train].sum() / t >= threshold for i, t in enumerate(trades)], dtype=float
        )
        per_split.append(taken[:, None] * returns[:, test])
    paths = assemble_path_returns(cv, n, per_split)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = paths.std(axis=2, ddof=1)
        expected = np.where(std > 0, paths.mean(axis=2) / std, np.nan).T
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, equal_nan=True)

    full = returns.mean(1) / returns.std(1, ddof=1)
    np.testing.assert_allclose(got[0], full[0], rtol=1e-10)  # taken in every split: every path is the stream
    assert np.ptp(got[1]) > 0.01 and (got[1] < full[1]).any()  # decisions differ between splits
    assert np.isnan(got[2]).all() and np.isnan(got[3]).all()  # never taken
    with pytest.raises(ValueError, match="both"):
        cpcv_path_sharpes(returns, cv, trade_entries=entries)
