"""mlbench.analysis.memo: intermediate tables built once per report, never changed by their users."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlbench.analysis import memo
from mlbench.analysis.tables import long_for, results_table


def _results(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in ("a", "b", "c"):
        for model in ("tree", "forest", "dummy"):
            for fold in range(3):
                score = {"tree": 0.8, "forest": 0.9, "dummy": 0.5}[model] + rng.normal(0, 0.02)
                rows.append(
                    {
                        "job_id": f"{dataset}-{model}-{fold}",
                        "dataset": dataset,
                        "task_type": "classification",
                        "model": model,
                        "fold": fold,
                        "repeat": 0,
                        "train_size": 1.0,
                        "n_train": 100,
                        "n_test": 50,
                        "status": "ok",
                        "fit_seconds": 0.1,
                        "predict_seconds": 0.01,
                        "test_accuracy": score,
                        "train_accuracy": min(1.0, score + 0.05),
                    }
                )
    return pd.DataFrame(rows)


def test_a_memoized_function_runs_once_per_input_inside_a_block_and_every_time_outside() -> None:
    calls: list[int] = []

    @memo.memoized(copy=True)
    def table(df: pd.DataFrame, k: int) -> pd.DataFrame:
        calls.append(k)
        return df.assign(k=k)

    df = pd.DataFrame({"x": [1, 2]})
    table(df, 1), table(df, 1)
    assert calls == [1, 1]  # no block: plain calls
    with memo.reuse():
        first = table(df, 1)
        table(df, 1), table(df, 2)
        table(df.copy(), 1)  # an equal table is another input: identity, not equality
        with memo.reuse():  # nested blocks share the outer one's results
            table(df, 2)
    assert calls == [1, 1, 1, 2, 1]
    # copy=True: a caller changing its result does not change what the next caller gets
    first.loc[0, "x"] = 99
    with memo.reuse():
        assert table(df, 1).loc[0, "x"] == 1


def test_copy_false_returns_the_stored_table_so_later_calls_recognise_it() -> None:
    df = _results()
    with memo.reuse():
        t1, t2 = results_table(df), results_table(df)
        assert t1 is t2
        assert long_for(t1, {"a": "accuracy"}) is not long_for(t2, {"a": "accuracy"})  # copies
        pd.testing.assert_frame_equal(long_for(t1, {"a": "accuracy"}), long_for(t2, {"a": "accuracy"}))
    assert results_table(df) is not results_table(df)


def test_the_report_summary_is_the_same_with_and_without_reuse_and_leaves_the_shared_tables_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import contextlib

    from mlbench.report import summarize

    df = _results()
    shared_tables: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    original = memo.reuse

    @contextlib.contextmanager
    def watching():  # every results table the analyses shared, as they left it, with its input
        with original():
            yield
            for key, ((args, _), result) in memo._MEMO.get().items():
                if key[1] == "results_table":
                    shared_tables.append((args[0], result))

    monkeypatch.setattr(memo, "reuse", watching)
    shared = summarize(df, {"primary_metric": "accuracy"})
    monkeypatch.setattr(memo, "reuse", contextlib.nullcontext)
    plain = summarize(df, {"primary_metric": "accuracy"})
    assert json.dumps(shared, sort_keys=True, default=str) == json.dumps(plain, sort_keys=True, default=str)
    assert shared_tables
    for given, table in shared_tables:  # nobody changed a table they all shared
        pd.testing.assert_frame_equal(table, results_table(given))
