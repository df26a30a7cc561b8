"""Tests of mlbench.suite: located error messages, the CLI's handling of them, expansion, fuzzing.

Every suite here is a real YAML file (or text) run through the real loader; the CLI tests start the
real ``mlbench`` entry point in a subprocess, so exit codes and stderr are what a user sees.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlbench.errors import ConfigError
from mlbench.metrics import DEFAULT_METRICS
from mlbench.suite import Suite, check_machine, load_suite, parse_suite

VALID = """\
name: demo
seed: 3
resampling:
  kind: kfold
  folds: 3
datasets:
  - iris
  - csv: data.csv
    target: y
models:
  - knn: {n_neighbors: 3}
  - decision_tree
sweep:
  train_sizes: [0.5, 1.0]
  repeats: 2
"""

# The minimal prefix most error cases build on: line 1 and 2, so the offending line is line 3+.
HEAD = "datasets: [iris]\nmodels: [knn]\n"
# Two models (lines 1-4) and honest validation (line 5), so ensemble errors start at line 6.
ENS_MODELS = "datasets: [iris]\nmodels:\n  - knn\n  - decision_tree\n"
ENS_HEAD = ENS_MODELS + "resampling: {fit_on_val: false}\n"


def write_csv(folder: Path, name: str = "data.csv", header: str = "a,b,y") -> Path:
    path = folder / name
    path.write_text(f"{header}\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    return path


def write_suite(folder: Path, text: str, name: str = "suite.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def load_errors(folder: Path, text: str) -> tuple[Path, list[str]]:
    """Write ``text`` as a suite file, validate it as ``mlbench validate`` does (the suite and this
    machine), expecting a ConfigError; return (path, messages)."""
    path = write_suite(folder, text)
    with pytest.raises(ConfigError) as info:
        load_suite(path, machine=True)
    return path, info.value.messages


def one_error(folder: Path, text: str) -> tuple[str, str]:
    """The single message for ``text``, split into ``(LINE:COL: field, rest)`` without the file name."""
    path, messages = load_errors(folder, text)
    assert len(messages) == 1, messages
    message = messages[0]
    assert message.startswith(f"{path}:"), message
    rest = message[len(f"{path}:") :]
    where, _, what = rest.partition(": ")
    field, _, what = what.partition(": ")
    return f"{where}: {field}", what


# ---------------------------------------------------------------------------------------------
# 1. each config error: FILE:LINE:COL: field: message, at the right place

# (id, suite text, expected "LINE:COL: field", substrings the message must contain)
ERROR_CASES = [
    (
        "unknown-top-level-key",
        HEAD + "modles: [knn]\n",
        "3:1: modles",
        # the closest match first ('ensembles' is a second, farther one)
        ["unknown key 'modles'", "Did you mean 'models'", "Valid keys here:"],
    ),
    (
        "unknown-resampling-key",
        HEAD + "resampling:\n  kind: kfold\n  fodls: 3\n",
        "5:3: resampling.fodls",
        ["unknown key 'fodls'", "Did you mean 'folds'", "kind, folds, repeats"],
    ),
    (
        "unknown-sweep-key",
        HEAD + "sweep:\n  train_size: [0.5]\n",
        "4:3: sweep.train_size",
        ["Did you mean 'train_sizes'?", "Valid keys here: train_sizes, repeats"],
    ),
    (
        "unknown-budget-key-flow-style",
        HEAD + "budget: {job_secs: 3}\n",
        "3:10: budget.job_secs",
        ["Did you mean 'job_seconds'?", "job_memory_gb"],
    ),
    (
        "unknown-executor-key",
        HEAD + "executor:\n  kind: local\n  worker: 2\n",
        "5:3: executor.worker",
        ["Did you mean 'workers'?", "threads_per_job"],
    ),
    (
        "folds-wrong-type",
        HEAD + "resampling:\n  folds: five\n",
        "4:10: resampling.folds",
        ["valid integer", "'five'"],
    ),
    (
        "folds-one",
        HEAD + "resampling:\n  folds: 1\n",
        "4:10: resampling.folds",
        ["greater than or equal to 2"],
    ),
    (
        "unknown-model-name",
        "datasets: [iris]\nmodels:\n  - knn\n  - decison_tree\n",
        "4:5: models[1]",
        ["unknown model 'decison_tree'", "Did you mean 'decision_tree'", "Valid models:", "knn"],
    ),
    (
        "unknown-model-name-with-params",
        "datasets: [iris]\nmodels:\n  - knn\n  - decison_tree: {max_depth: 3}\n",
        "4:5: models[1].decison_tree",
        ["Did you mean 'decision_tree'"],
    ),
    (
        "unknown-model-param",
        "datasets: [iris]\nmodels:\n  - knn: {n_neighbour: 3}\n",
        "3:11: models[0].knn.n_neighbour",
        ["unknown parameter 'n_neighbour'", "Did you mean 'n_neighbors'?", "Valid parameters:", "leaf_size"],
    ),
    (
        "model-params-not-mapping",
        "datasets: [iris]\nmodels:\n  - knn: [3]\n",
        "3:10: models[0].knn",
        ["must be a mapping"],
    ),
    (
        "unknown-builtin-shorthand",
        "datasets:\n  - irsi\nmodels: [knn]\n",
        "2:5: datasets[0].builtin",
        ["unknown builtin dataset 'irsi'", "Did you mean 'iris'?", "digits"],
    ),
    (
        "unknown-builtin",
        "datasets:\n  - builtin: irsi\nmodels: [knn]\n",
        "2:14: datasets[0].builtin",
        ["Did you mean 'iris'?"],
    ),
    (
        "two-source-keys",
        "datasets:\n  - builtin: iris\n    csv: data.csv\nmodels: [knn]\n",
        "2:5: datasets[0]",
        ["several source keys (builtin, csv)", "exactly one of"],
    ),
    (
        "no-source-key",
        "datasets:\n  - name: x\n    target: y\nmodels: [knn]\n",
        "2:5: datasets[0]",
        ["no source key", "builtin, csv, parquet"],
    ),
    (
        "unknown-dataset-key",
        "datasets:\n  - csv: data.csv\n    targte: y\nmodels: [knn]\n",
        "3:5: datasets[0].targte",
        ["unknown key 'targte' for a csv dataset", "Did you mean 'target'?"],
    ),
    (
        "csv-missing-file",
        "datasets:\n  - csv: nope.csv\n    target: y\nmodels: [knn]\n",
        "2:10: datasets[0].csv",
        ["nope.csv", "not found"],
    ),
    (
        "csv-missing-target-column",
        "datasets:\n  - csv: data.csv\n    target: label\nmodels: [knn]\n",
        "2:10: datasets[0].csv",
        ["target column 'label'", "'a', 'b', 'y'"],
    ),
    (
        "duplicate-dataset-names",
        "datasets:\n  - iris\n  - builtin: iris\nmodels: [knn]\n",
        "3:5: datasets[1]",
        ["dataset name 'iris' is used twice", "name:"],
    ),
    (
        "duplicate-top-level-key",
        HEAD + "seed: 1\nseed: 2\n",
        "4:1: seed",
        ["'seed' appears twice", "keep one"],
    ),
    (
        "duplicate-nested-key",
        HEAD + "resampling:\n  folds: 3\n  folds: 4\n",
        "5:3: resampling.folds",
        ["appears twice"],
    ),
    (
        "metric-list-form",
        HEAD + "metrics: [accuracy, acuracy]\n",
        "3:21: metrics[1]",
        ["unknown metric 'acuracy'", "Did you mean 'accuracy'"],
    ),
    (
        "metric-wrong-task",
        HEAD + "metrics:\n  classification: [accuracy, rmse]\n",
        "4:30: metrics.classification[1]",
        ["'rmse' is not a classification metric", "log_loss"],
    ),
    (
        "metric-unknown-task-type",
        HEAD + "metrics:\n  regresion: [rmse]\n",
        "4:3: metrics.regresion",
        ["unknown task type 'regresion'", "Did you mean 'regression'?"],
    ),
    (
        "train-size-zero",
        HEAD + "sweep:\n  train_sizes: [0.5, 0]\n",
        "4:22: sweep.train_sizes[1]",
        ["below 2"],
    ),
    (
        "train-size-int-one",
        HEAD + "sweep:\n  train_sizes: [1]\n",
        "4:17: sweep.train_sizes[0]",
        ["write 1.0"],
    ),
    ("train-size-1.5", HEAD + "sweep:\n  train_sizes: [1.5]\n", "4:17: sweep.train_sizes[0]", ["(0, 1]"]),
    (
        "train-size-negative",
        HEAD + "sweep:\n  train_sizes: [-0.5]\n",
        "4:17: sweep.train_sizes[0]",
        ["(0, 1]"],
    ),
    (
        "train-size-string",
        HEAD + "sweep:\n  train_sizes: [0.5, half]\n",
        "4:22: sweep.train_sizes[1]",
        ["'half' is not a number"],
    ),
    (
        "train-size-duplicates",
        HEAD + "sweep:\n  train_sizes: [0.5, 0.5]\n",
        "4:16: sweep.train_sizes",
        ["repeat a value"],
    ),
    ("yaml-syntax-flow", "datasets: [iris]\nmodels: [knn\nseed: 1\n", "3:5: (YAML)", ["fix the YAML syntax"]),
    (
        "yaml-syntax-indent",
        "datasets: [iris]\nmodels:\n  - knn\n bad: indent\n",
        "4:2: (YAML)",
        ["fix the YAML syntax"],
    ),
    (
        "unconvertible-tag",
        HEAD + "seed: !!int three\n",
        "3:7: (YAML)",
        ["cannot convert a tagged value", "'three'", "`!!` tag"],
    ),
    ("empty-file", "", "1:1: (top level)", ["the suite is empty", "datasets:"]),
    ("comments-only", "# nothing yet\n", "1:1: (top level)", ["the suite is empty"]),
    ("top-level-list", "- iris\n- knn\n", "1:1: (top level)", ["the suite is a list", "mapping"]),
    ("missing-models", "datasets: [iris]\n", "1:1: (top level)", ["required key 'models' is missing"]),
    ("empty-models", "datasets: [iris]\nmodels: []\n", "2:9: models", ["at least 1 item"]),
    (
        "plugin-missing-file",
        HEAD + "plugins: [nothere.py]\n",
        "3:11: plugins[0]",
        ["nothere.py does not exist", "plugins:"],
    ),
    (
        "identical-model-twice",
        "datasets: [iris]\nmodels:\n  - knn: {n_neighbors: 3}\n  - knn: {n_neighbors: 3}\n",
        "4:5: models[1]",
        ["'knn(n_neighbors=3)' is listed twice", "remove one"],
    ),
    (
        "plain-model-twice",
        "datasets: [iris]\nmodels:\n  - knn\n  - knn\n",
        "4:5: models[1]",
        ["listed twice"],
    ),
    (
        # a YAML set used to slip through pydantic as a list and leave a suite with zero models
        "models-as-yaml-set",
        "datasets: [iris]\nmodels: !!set {knn}\n",
        "2:9: models",
        ["valid list"],
    ),
    (
        "unknown-executor-kind",
        HEAD + "executor:\n  kind: dsak\n",
        "4:9: executor.kind",
        ["unknown executor kind 'dsak'", "Did you mean 'dask'?", "Valid kinds: dask, local"],
    ),
    (
        # job ids are JSON with sorted keys: `{name: 1, 0: 2}` crashed expand() with a TypeError
        "model-param-mapping-with-mixed-key-types",
        "datasets: [iris]\nmodels:\n  - knn: {n_neighbors: {name: 1, 0: 2}}\n",
        "3:24: models[0].knn.n_neighbors",
        ["keys of mixed or unusual types", "quote its keys"],
    ),
    (
        "dataset-value-mapping-with-mixed-key-types",
        "datasets:\n  - csv: data.csv\n    target: y\n    drop: {a: 1, 2: b}\nmodels: [knn]\n",
        "4:11: datasets[0].drop",
        ["keys of mixed or unusual types"],
    ),
    (
        # a value containing itself crashed the model-label json.dumps with ValueError
        "self-referencing-alias",
        "datasets: [iris]\nmodels:\n  - knn: &p {n_neighbors: *p}\n  - knn: {n_neighbors: 3}\n",
        "3:14: (YAML)",
        ["contains itself through an alias"],
    ),
    (
        "val-unknown",
        HEAD + "resampling: {val: crossfit}\n",
        "3:19: resampling.val",
        ["'holdout' or 'cross_fit'"],
    ),
    (
        "cross-fit-with-fit-on-val-false",
        HEAD + "resampling: {fit_on_val: false, val: cross_fit}\n",
        "3:38: resampling.val",
        ["remove `fit_on_val: false`", "`val: holdout`"],
    ),
    (
        "inner-folds-without-cross-fit",
        HEAD + "resampling: {inner_folds: 3}\n",
        "3:27: resampling.inner_folds",
        ["only applies to `val: cross_fit`", "add `val: cross_fit` or remove inner_folds"],
    ),
    (
        "inner-folds-one",
        HEAD + "resampling: {val: cross_fit, inner_folds: 1}\n",
        "3:43: resampling.inner_folds",
        ["greater than or equal to 2"],
    ),
    (
        # the honest-validation rule: in-sample validation predictions would crown a memoriser
        "ensembles-with-in-sample-validation",
        ENS_MODELS + "ensembles: [caruana]\n",
        "5:1: ensembles",
        ["in-sample", "`resampling: {fit_on_val: false}`", "`resampling: {val: cross_fit, inner_folds: 5}`"],
    ),
    (
        "ensembles-with-fit-on-val-written-true",
        ENS_MODELS + "resampling: {fit_on_val: true}\nensembles: [voting]\n",
        "6:1: ensembles",
        ["in-sample", "fit_on_val: false", "val: cross_fit"],
    ),
    (
        "ensembles-without-validation-rows",
        ENS_MODELS + "resampling: {fit_on_val: false, val_fraction: 0}\nensembles: [voting]\n",
        "6:1: ensembles",
        ["no validation rows", "val_fraction above 0", "val: cross_fit"],
    ),
    (
        "ensemble-unknown-kind",
        ENS_HEAD + "ensembles:\n  - carauna: {size: 5}\n",
        "7:5: ensembles[0].carauna",
        ["unknown ensemble kind 'carauna'", "Did you mean 'caruana'?", "caruana, stacking, voting"],
    ),
    (
        "ensemble-unknown-kind-shorthand",
        ENS_HEAD + "ensembles: [vote]\n",
        "6:13: ensembles[0]",
        ["unknown ensemble kind 'vote'", "Did you mean 'voting'?"],
    ),
    (
        "ensemble-unknown-key",
        ENS_HEAD + "ensembles:\n  - caruana: {sise: 5}\n",
        "7:15: ensembles[0].caruana.sise",
        ["unknown key 'sise' for a caruana ensemble", "Did you mean 'size'", "members, label, size, seed"],
    ),
    (
        "ensemble-key-of-another-kind",
        ENS_HEAD + "ensembles:\n  - voting: {final: knn}\n",
        "7:14: ensembles[0].voting.final",
        ["unknown key 'final' for a voting ensemble", "Valid keys: members, label, weights"],
    ),
    (
        "ensemble-options-not-mapping",
        ENS_HEAD + "ensembles:\n  - caruana: [25]\n",
        "7:14: ensembles[0].caruana",
        ["must be a mapping like `{size: 25}`"],
    ),
    (
        "ensemble-entry-two-kinds",
        ENS_HEAD + "ensembles:\n  - {caruana: {}, voting: {}}\n",
        "7:5: ensembles[0]",
        ["a kind (`- voting`) or a one-key mapping"],
    ),
    (
        "caruana-size-zero",
        ENS_HEAD + "ensembles:\n  - caruana: {size: 0}\n",
        "7:21: ensembles[0].caruana.size",
        ["got 0", "from 1 to"],
    ),
    (
        "caruana-size-not-an-integer",
        ENS_HEAD + "ensembles:\n  - caruana: {size: 2.5}\n",
        "7:21: ensembles[0].caruana.size",
        ["whole number", "got 2.5"],
    ),
    (
        "caruana-size-bool",
        ENS_HEAD + "ensembles:\n  - caruana: {size: true}\n",
        "7:21: ensembles[0].caruana.size",
        ["whole number", "got True"],
    ),
    (
        "caruana-seed-negative",
        ENS_HEAD + "ensembles:\n  - caruana: {seed: -1}\n",
        "7:21: ensembles[0].caruana.seed",
        ["seed must be a whole number from 0"],
    ),
    (
        "ensemble-member-not-in-suite",
        ENS_HEAD + "ensembles:\n  - caruana: {members: [knn, decison_tree]}\n",
        "7:30: ensembles[0].caruana.members[1]",
        ["'decison_tree' is not a model of this suite", "Did you mean 'decision_tree'?", "Model labels: knn"],
    ),
    (
        "ensemble-member-names-a-grid-entry",
        "datasets: [iris]\nmodels:\n  - knn: {grid: {n_neighbors: [3, 7]}}\n  - decision_tree\n"
        "resampling: {fit_on_val: false}\nensembles:\n  - voting: {members: [knn, decision_tree]}\n",
        "7:24: ensembles[0].voting.members[0]",
        ["Its grid expands to: knn(n_neighbors=3), knn(n_neighbors=7)", "list the labels you mean"],
    ),
    (
        "ensemble-one-member",
        ENS_HEAD + "ensembles:\n  - caruana: {members: [knn]}\n",
        "7:24: ensembles[0].caruana.members",
        ["at least 2 members, got 1"],
    ),
    (
        "ensemble-member-twice",
        ENS_HEAD + "ensembles:\n  - caruana: {members: [knn, decision_tree, knn]}\n",
        "7:45: ensembles[0].caruana.members[2]",
        ["'knn' is listed twice"],
    ),
    (
        "ensemble-members-not-a-list",
        ENS_HEAD + "ensembles:\n  - caruana: {members: knn}\n",
        "7:24: ensembles[0].caruana.members",
        ["list of model labels"],
    ),
    (
        "ensemble-of-a-one-model-suite",
        "datasets: [iris]\nmodels: [knn]\nresampling: {fit_on_val: false}\nensembles: [voting]\n",
        "4:13: ensembles[0]",
        ["at least 2 models and the suite has 1"],
    ),
    (
        "voting-weight-for-a-non-member",
        ENS_HEAD + "ensembles:\n  - voting: {members: [knn, decision_tree], weights: {knn: 1, xgboost: 2}}\n",
        "7:63: ensembles[0].voting.weights.xgboost",
        ["'xgboost' is not a member of this ensemble", "Members: knn, decision_tree"],
    ),
    (
        "voting-weight-negative",
        ENS_HEAD + "ensembles:\n  - voting: {weights: {knn: -1}}\n",
        "7:29: ensembles[0].voting.weights.knn",
        ["a weight is a number >= 0, got -1"],
    ),
    (
        "voting-weight-not-a-number",
        ENS_HEAD + "ensembles:\n  - voting: {weights: {knn: .nan}}\n",
        "7:29: ensembles[0].voting.weights.knn",
        ["a weight is a number >= 0"],
    ),
    (
        "voting-weights-all-zero",
        ENS_HEAD + "ensembles:\n  - voting: {weights: {knn: 0, decision_tree: 0}}\n",
        "7:23: ensembles[0].voting.weights",
        ["every weight is 0"],
    ),
    (
        "stacking-final-unknown",
        ENS_HEAD + "ensembles:\n  - stacking: {final: logistic_regresion}\n",
        "7:23: ensembles[0].stacking.final",
        ["unknown meta-model 'logistic_regresion'", "Did you mean 'logistic_regression'?"],
    ),
    (
        "stacking-final-needs-images",
        ENS_HEAD + "ensembles:\n  - stacking: {final: cnn}\n",
        "7:23: ensembles[0].stacking.final",
        ["'cnn' needs images", "logistic_regression"],
    ),
    (
        "stacking-final-params-unknown",
        ENS_HEAD + "ensembles:\n  - stacking: {final: knn, final_params: {n_neighbour: 3}}\n",
        "7:43: ensembles[0].stacking.final_params.n_neighbour",
        ["unknown parameter 'n_neighbour'", "Did you mean 'n_neighbors'?"],
    ),
    (
        "ensemble-label-of-a-model",
        ENS_HEAD + "ensembles:\n  - voting: {label: knn}\n",
        "7:21: ensembles[0].voting.label",
        ["ensemble label 'knn' is a model's label", "another `label:`"],
    ),
    (
        "ensemble-listed-twice",
        ENS_HEAD + "ensembles:\n  - voting\n  - voting\n",
        "8:5: ensembles[1]",
        ["'ensemble:voting' is listed twice (entry 0)", "set `label:`"],
    ),
    (
        "ensemble-labels-twice",
        ENS_HEAD + "ensembles:\n  - voting: {label: mix}\n  - caruana: {label: mix}\n",
        "8:22: ensembles[1].caruana.label",
        ["'mix' is listed twice (entry 0)"],
    ),
    # issue 18: grouped and time-ordered resampling, parameters per task
    (
        "group-kfold-without-group",
        HEAD + "resampling: {kind: group_kfold, folds: 3}\n",
        "3:20: resampling.kind",
        ["kind: group_kfold needs `group: COLUMN`", "the column that holds the groups"],
    ),
    (
        "time-series-without-time",
        HEAD + "resampling:\n  kind: time_series\n",
        "4:9: resampling.kind",
        ["kind: time_series needs `time: COLUMN`"],
    ),
    (
        "group-with-kfold",
        HEAD + "resampling:\n  kind: kfold\n  group: store\n",
        "5:10: resampling.group",
        ["group only applies to `kind: group_kfold`"],
    ),
    (
        "gap-without-time-series",
        HEAD + "resampling:\n  gap: 2\n",
        "4:8: resampling.gap",
        ["gap only applies to `kind: time_series`"],
    ),
    (
        "cross-fit-with-time-series",
        HEAD + "resampling:\n  kind: time_series\n  time: day\n  val: cross_fit\n",
        "6:8: resampling.val",
        ["which time_series forbids", "val: holdout"],
    ),
    (
        "classification-parameter-on-a-regression-dataset",
        "datasets: [iris, diabetes]\nmodels:\n  - logistic_regression: {C: 0.1}\n",
        "3:27: models[0].logistic_regression.C",
        [
            "logistic_regression takes 'C' for classification only",
            "dataset 'diabetes' is regression: every such job would fail",
            "Valid regression parameters of logistic_regression: alpha, copy_X",
        ],
    ),
    (
        "classification-parameter-in-a-grid-on-a-regression-dataset",
        "datasets:\n  - builtin: synthetic_tabular\n    task: regression\n"
        "models:\n  - logistic_regression: {grid: {C: [0.1, 1.0]}}\n",
        "5:34: models[0].logistic_regression.grid.C",
        ["takes 'C' for classification only", "'synthetic_tabular' is regression"],
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "needles"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_error_is_located_and_explained(tmp_path: Path, text: str, where: str, needles: list[str]) -> None:
    write_csv(tmp_path)
    located, what = one_error(tmp_path, text)
    assert located == where, what
    for needle in needles:
        assert needle in what
    assert "Traceback" not in what


def test_executor_kind_registered_by_a_plugin_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlbench.execution.base import EXECUTORS

    # the registry is process-wide: let this test's registration vanish with it
    monkeypatch.setattr(EXECUTORS, "_items", dict(EXECUTORS._items))
    text = HEAD + "executor: {kind: ray_test}\n"
    _, messages = load_errors(tmp_path, text)
    assert "unknown executor kind 'ray_test'" in messages[0]
    (tmp_path / "ray_plugin.py").write_text(
        "from mlbench.execution.base import register_executor\n"
        "register_executor('ray_test', 'ray_backend:RayExecutor')\n"
    )
    suite = load_suite(write_suite(tmp_path, "plugins: [ray_plugin.py]\n" + text), machine=True)
    assert suite.executor.kind == "ray_test"


def test_alias_bomb_is_rejected_quickly(tmp_path: Path) -> None:
    # nine levels of ten-fold aliases expand to 10**9 values; every later walk would hang
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    located, what = one_error(tmp_path, "\n".join(lines) + "\n" + HEAD + "metrics: *a8\n")
    assert located == "1:1: (YAML)"
    assert "aliases" in what


def test_missing_suite_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such suite file"):
        load_suite(tmp_path / "absent.yaml")


def test_output_in_file_is_relative_to_the_file(tmp_path: Path) -> None:
    path = write_suite(tmp_path, HEAD + "output: out\n")
    assert load_suite(path).output == tmp_path / "out"
    assert load_suite(path, output="elsewhere").output == Path("elsewhere")


# ---------------------------------------------------------------------------------------------
# 2. several problems at once


def test_all_problems_reported_together_sorted_by_line(tmp_path: Path) -> None:
    text = (
        "modles: 1\n"  # 1: unknown key (pydantic)
        "datasets: [irsi]\n"  # 2: unknown builtin (dataset check)
        "models: [knn, decison_tree]\n"  # 3: unknown model (model check)
        "resampling: {folds: 1}\n"  # 4: out of range (pydantic)
        "metrics: [acuracy]\n"  # 5: unknown metric (metric check)
    )
    path, messages = load_errors(tmp_path, text)
    assert [m.split(": ")[0] for m in messages] == [
        f"{path}:1:1",
        f"{path}:2:12",
        f"{path}:3:15",
        f"{path}:4:21",
        f"{path}:5:11",
    ]
    # str() of the error is one line per problem, what the CLI prints
    with pytest.raises(ConfigError) as info:
        load_suite(path, machine=True)
    assert str(info.value).splitlines() == messages


# ---------------------------------------------------------------------------------------------
# 3. the CLI: exit code 2, messages on stderr, never a traceback


def mlbench(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_cli_validate_bad_suite(tmp_path: Path) -> None:
    bad = write_suite(tmp_path, "datasets: [iris]\nmodels:\n  - decison_tree\nmodles: []\n", "bad.yaml")
    result = mlbench("validate", bad, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}:3:5: models[0]: unknown model 'decison_tree'" in result.stderr
    assert f"{bad}:4:1: modles: unknown key" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_validate_good_and_mixed(tmp_path: Path) -> None:
    write_csv(tmp_path)
    good = write_suite(tmp_path, VALID, "good.yaml")
    result = mlbench("validate", good, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok (2 datasets x 3 models" in result.stdout  # knn, decision_tree and the baseline
    # one bad file among good ones fails the whole command, yet the good one is still reported
    bad = write_suite(tmp_path, "datasets: [iris]\n", "bad.yaml")
    result = mlbench("validate", good, bad, cwd=tmp_path)
    assert result.returncode == 2
    assert "good.yaml: ok" in result.stdout
    assert f"{bad}:1:1:" in result.stderr


def test_cli_run_bad_suite_exits_2_before_running(tmp_path: Path) -> None:
    bad = write_suite(tmp_path, "datasets: [iris]\nmodels: [knn]\nresampling: {folds: five}\n", "bad.yaml")
    result = mlbench("run", bad, "--output", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}:3:21: resampling.folds:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# 4. expansion


def suite_from(folder: Path, text: str, name: str = "suite.yaml") -> Suite:
    return load_suite(write_suite(folder, text, name))


def test_job_count_kfold(tmp_path: Path) -> None:
    write_csv(tmp_path)
    suite = suite_from(tmp_path, VALID)
    jobs = suite.expand()
    # datasets x models (knn, decision_tree and the baseline dummy) x folds x train sizes x repeats
    assert len(jobs) == 2 * 3 * 3 * 2 * 2
    assert len({j.job_id for j in jobs}) == len(jobs)
    assert {(j.fold, j.train_size, j.repeat) for j in jobs} == {
        (f, s, r) for f in range(3) for s in (0.5, 1.0) for r in range(2)
    }


@pytest.mark.parametrize(
    ("resampling", "folds"),
    [
        ("{kind: kfold, folds: 4}", 4),
        ("{kind: repeated_kfold, folds: 3, repeats: 2}", 6),
        ("{kind: holdout, test_size: 0.3}", 1),
        ("{}", 5),  # default: 5-fold
    ],
)
def test_job_count_per_resampling(tmp_path: Path, resampling: str, folds: int) -> None:
    suite = suite_from(tmp_path, f"datasets: [iris, wine]\nmodels: [knn]\nresampling: {resampling}\n")
    jobs = suite.expand()
    assert len(jobs) == 2 * 2 * folds  # knn and the baseline
    assert sorted({j.fold for j in jobs}) == list(range(folds))


def test_dataset_with_test_file_has_one_fold(tmp_path: Path) -> None:
    write_csv(tmp_path)
    write_csv(tmp_path, "test.csv")
    text = (
        "datasets:\n  - iris\n  - {csv: data.csv, target: y, test: test.csv}\nmodels: [knn, decision_tree]\n"
    )
    suite = suite_from(tmp_path, text + "resampling: {folds: 3}\nsweep: {train_sizes: [0.5, 1.0]}\n")
    jobs = suite.expand()
    per_dataset = {name: sum(j.dataset == name for j in jobs) for name in ("iris", "data")}
    assert per_dataset == {"iris": 3 * 3 * 2, "data": 3 * 1 * 2}  # two models and the baseline


def id_map(suite: Suite) -> dict[tuple, str]:
    return {(j.dataset, j.model, j.fold, j.train_size, j.repeat): j.job_id for j in suite.expand()}


def test_job_ids_stable_across_loads_and_reordering(tmp_path: Path) -> None:
    write_csv(tmp_path)
    first = id_map(suite_from(tmp_path, VALID))
    assert id_map(suite_from(tmp_path, VALID)) == first
    # reorder datasets and models, and write the shorthand `iris` in its long form
    reordered = VALID.replace(
        "  - iris\n  - csv: data.csv\n    target: y\n", "  - {target: y, csv: data.csv}\n  - builtin: iris\n"
    ).replace(
        "  - knn: {n_neighbors: 3}\n  - decision_tree\n", "  - decision_tree\n  - knn: {n_neighbors: 3}\n"
    )
    assert reordered != VALID
    assert id_map(suite_from(tmp_path, reordered, "other.yaml")) == first
    # adding an entry leaves the existing ids alone (resume keeps finished jobs)
    more = VALID.replace("  - decision_tree\n", "  - decision_tree\n  - random_forest\n")
    grown = id_map(suite_from(tmp_path, more, "more.yaml"))
    assert {k: v for k, v in grown.items() if k[1] != "random_forest"} == first


def test_job_ids_change_with_what_determines_the_result(tmp_path: Path) -> None:
    write_csv(tmp_path)
    base = id_map(suite_from(tmp_path, VALID))
    assert len(set(base.values())) == len(base)  # fold, size, repeat, model, dataset all count

    def changed(old: str, new: str) -> dict[tuple, str]:
        assert old in VALID
        return id_map(suite_from(tmp_path, VALID.replace(old, new), "changed.yaml"))

    # params: every knn job moves, the decision_tree (and baseline) jobs keep their ids
    other = changed("n_neighbors: 3", "n_neighbors: 4")
    assert {k: v for k, v in other.items() if k[1] == "knn"}.keys() == {k for k in base if k[1] == "knn"}
    for k, v in base.items():
        assert (other[k] == v) == (k[1] != "knn"), k
    # seed and resampling move every split, hence every job
    for old, new in [
        ("seed: 3", "seed: 4"),
        ("folds: 3", "folds: 4"),
        ("kind: kfold", "kind: repeated_kfold"),
    ]:
        assert not set(changed(old, new).values()) & set(base.values()), (old, new)
    # a new train size adds jobs; the jobs of the kept size are unchanged
    other = changed("[0.5, 1.0]", "[0.25, 1.0]")
    assert {k: v for k, v in other.items() if k[3] == 1.0} == {k: v for k, v in base.items() if k[3] == 1.0}
    assert not {v for k, v in other.items() if k[3] == 0.25} & set(base.values())


def test_repeat_seeds(tmp_path: Path) -> None:
    write_csv(tmp_path)
    for job in suite_from(tmp_path, VALID).expand():
        assert job.seed == 3 + job.repeat
        assert job.split_seed == 3  # the splits are shared across repeats


def test_model_labels_disambiguated(tmp_path: Path) -> None:
    text = "datasets: [iris]\nmodels:\n  - knn\n  - knn: {n_neighbors: 7, weights: distance}\n  - decision_tree\n"
    suite = suite_from(tmp_path, text)
    assert [m.label for m in suite.models] == [
        "knn",
        "knn(n_neighbors=7, weights=distance)",
        "decision_tree",
        "dummy",
    ]
    assert len({j.model for j in suite.expand()}) == 4


def test_metrics_defaults_and_order(tmp_path: Path) -> None:
    assert suite_from(tmp_path, HEAD).metrics == DEFAULT_METRICS
    mixed = suite_from(tmp_path, HEAD + "metrics: [log_loss, rmse, accuracy]\n")
    assert mixed.metrics["classification"] == ["log_loss", "accuracy"]
    assert mixed.metrics["regression"] == ["rmse"]
    assert mixed.primary_metric() == {"classification": "log_loss", "regression": "rmse"}
    mapping = suite_from(tmp_path, HEAD + "metrics:\n  classification: [f1_macro, accuracy]\n")
    assert mapping.metrics["classification"] == ["f1_macro", "accuracy"]
    assert mapping.metrics["regression"] == DEFAULT_METRICS["regression"]


# ---------------------------------------------------------------------------------------------
# 5. fuzzing: parse_suite raises ConfigError or nothing, and every line is located

LOCATED = re.compile(r"^<suite>:\d+:\d+: ")

# Keys the loader knows, so random documents reach the deeper checks; `plugins` is left out on
# purpose: its values are imported as modules.
KNOWN_KEYS = [
    "name",
    "seed",
    "resampling",
    "metrics",
    "datasets",
    "models",
    "sweep",
    "budget",
    "executor",
    "output",
    "kind",
    "folds",
    "repeats",
    "test_size",
    "train_sizes",
    "builtin",
    "csv",
    "target",
    "test",
    "task",
    "npz",
    "openml",
    "image_folder",
    "knn",
    "decision_tree",
    "n_neighbors",
    "classification",
    "regression",
    "job_seconds",
    "workers",
    "val",
    "inner_folds",
    "fit_on_val",
    "ensembles",
    "caruana",
    "stacking",
    "voting",
    "members",
    "size",
    "final",
    "final_params",
    "weights",
    "label",
]
KNOWN_WORDS = [
    "iris",
    "digits",
    "knn",
    "xgboost",
    "accuracy",
    "rmse",
    "kfold",
    "holdout",
    "data.csv",
    "y",
    "dask",
    "cross_fit",
    "decision_tree",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(KNOWN_WORDS + KNOWN_KEYS),
    st.sampled_from(
        ["", " ", "\n", ":", "- x", "{", "'", '"', "\\", "&a", "*a", "!!set", "\x00", "\u2028", "é"]
    ),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8), st.integers(), st.none(), st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)
documents = st.one_of(values, st.dictionaries(keys, values, max_size=8))


def assert_only_located_config_errors(text: str, base_dir: Path) -> None:
    try:
        parse_suite(text, filename="<suite>", base_dir=base_dir)
    except ConfigError as exc:
        assert exc.messages
        for line in str(exc).splitlines():
            assert LOCATED.match(line), line


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    write_csv(folder)
    return folder


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(documents)
# control characters that str.splitlines() breaks on used to split one message into two lines
@example({"\x1e": None})
@example({"datasets": [{"builtin": "iris", "name": "a\u2028b"}, "iris"], "models": ["knn"]})
def test_fuzz_random_documents(fuzz_dir: Path, document: object) -> None:
    assert_only_located_config_errors(yaml.safe_dump(document, allow_unicode=True), fuzz_dir)


@FUZZ
@given(st.text(max_size=200))
@example("a: &a [*a]\n")
# PyYAML raised a bare ValueError/KeyError for an explicit tag it cannot convert
@example("!!int datasets: [iris]\nmodels: [knn]\n")
@example("datasets: [iris]\nmodels: [knn]\nseed: !!bool maybe\n")
@example("datasets: !!set {iris}\nmodels: [knn]\n")
@example("datasets: [iris]\nmodels: [{knn: &p {n_neighbors: *p}}, {knn: {n_neighbors: 3}}]\n")
def test_fuzz_random_text(fuzz_dir: Path, text: str) -> None:
    assert_only_located_config_errors(text, fuzz_dir)


def _mutate_structure(data: st.DataObject, node: object) -> object:
    """Delete, replace, insert or retype one entry somewhere in ``node`` (a fresh copy)."""
    if isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node, key=str)))
        op = data.draw(st.sampled_from(["delete", "replace", "insert", "recurse", "recurse"]))
        out = dict(node)
        if op == "delete":
            del out[key]
        elif op == "replace":
            out[key] = data.draw(values)
        elif op == "insert":
            out[data.draw(keys)] = data.draw(values)
        else:
            out[key] = _mutate_structure(data, node[key])
        return out
    if isinstance(node, list) and node:
        i = data.draw(st.integers(0, len(node) - 1))
        op = data.draw(st.sampled_from(["delete", "replace", "insert", "recurse", "recurse"]))
        out = list(node)
        if op == "delete":
            del out[i]
        elif op == "replace":
            out[i] = data.draw(values)
        elif op == "insert":
            out.insert(i, data.draw(values))
        else:
            out[i] = _mutate_structure(data, node[i])
        return out
    # a scalar (or an empty container): change its value, often its type
    return data.draw(values)


# a valid suite with every ensemble kind, so mutations reach the ensemble checks
VALID_ENSEMBLES = VALID.replace("  kind: kfold\n", "  kind: kfold\n  val: cross_fit\n  inner_folds: 3\n") + (
    "ensembles:\n"
    "  - caruana: {size: 5, members: [knn, decision_tree], label: pair}\n"
    "  - stacking: {final: logistic_regression, final_params: {C: 0.5}}\n"
    "  - voting: {weights: {knn: 2}}\n"
)


def test_valid_ensembles_suite_is_valid(fuzz_dir: Path) -> None:
    suite = parse_suite(VALID_ENSEMBLES, base_dir=fuzz_dir)
    assert [e.kind for e in suite.ensembles] == ["caruana", "stacking", "voting"]


@FUZZ
@given(st.data(), st.sampled_from([VALID, VALID_ENSEMBLES]))
def test_fuzz_mutated_valid_suite_structure(fuzz_dir: Path, data: st.DataObject, valid: str) -> None:
    document = yaml.safe_load(valid)
    for _ in range(data.draw(st.integers(1, 3))):
        document = _mutate_structure(data, document)
    assert_only_located_config_errors(yaml.safe_dump(document, allow_unicode=True), fuzz_dir)


JUNK = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        ["  - ", ": ", "\t", "  ", "[", "]", "{", "}", "---", "...", "&x ", "*x", "!!int ", "#", "? "]
    ),
)


@FUZZ
@given(st.data(), st.sampled_from([VALID, VALID_ENSEMBLES]))
def test_fuzz_mutated_valid_suite_text(fuzz_dir: Path, data: st.DataObject, valid: str) -> None:
    # edits on the text itself: broken indentation, junk lines, stray characters, cut lines
    lines = valid.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["insert_line", "replace_line", "delete_line", "insert_chars", "cut"]))
        i = data.draw(st.integers(0, len(lines) - 1)) if lines else 0
        if op == "insert_line":
            lines.insert(i, data.draw(JUNK) + "\n")
        elif op == "replace_line" and lines:
            lines[i] = data.draw(JUNK) + "\n"
        elif op == "delete_line" and lines:
            del lines[i]
        elif op == "insert_chars" and lines:
            j = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + data.draw(JUNK) + lines[i][j:]
        elif op == "cut" and lines:
            j = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + "\n"
    assert_only_located_config_errors("".join(lines), fuzz_dir)


# ---------------------------------------------------------------------------------------------
# 6. validating stays light: no heavy library is imported


def test_validate_imports_no_heavy_library(tmp_path: Path) -> None:
    write_csv(tmp_path)
    path = write_suite(tmp_path, VALID.replace("  - decision_tree\n", "  - decision_tree\n  - xgboost\n"))
    code = f"""
import json, sys
from mlbench.suite import load_suite
load_suite({str(path)!r}).expand()
from mlbench.cli import main
sys.argv = ["mlbench", "validate", {str(path)!r}]
try:
    main()
except SystemExit as exc:
    assert exc.code == 0, exc.code
heavy = ["sklearn", "torch", "xgboost", "pandas", "numpy", "scipy"]
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # the validator reads a csv's header line itself: neither pandas nor numpy is needed
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    builtin_only = write_suite(tmp_path, "datasets: [iris, digits]\nmodels: [knn, xgboost]\n", "builtin.yaml")
    result = subprocess.run(
        [sys.executable, "-c", code.replace(str(path), str(builtin_only))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_same_model_and_params_under_another_label_is_an_error(tmp_path: Path) -> None:
    # job ids hash the model and its parameters: two such entries would overwrite each other
    text = (
        "datasets: [iris]\nmodels:\n  - knn\n  - knn: {label: again}\n  - knn: {n_neighbors: 3, label: k3}\n"
    )
    path = write_suite(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert len(info.value.messages) == 1
    assert f"{path}:4:5: models[1]: model 'again' trains the same model" in info.value.messages[0]


# ---------------------------------------------------------------------------------------------
# 7. job ids of existing suites never move (resume of old runs depends on them)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        # computed on main (05846ca) before `val`/`inner_folds`/`ensembles:` existed
        ("datasets: [iris]\nmodels: [knn]\n", "c657e03e1fbff145", "9bc6596db892502a"),
        (
            "seed: 3\nresampling: {kind: kfold, folds: 3, fit_on_val: false, val_fraction: 0.25}\n"
            "datasets: [iris]\nmodels: [{knn: {n_neighbors: 3}}]\nsweep: {train_sizes: [0.5, 1.0], repeats: 2}\n",
            "01b4c4c6fef4c5b4",
            "0932ae45d209870e",
        ),
    ],
)
def test_job_ids_of_suites_without_the_new_keys_are_pinned(text: str, first: str, last: str) -> None:
    # the baseline added since is a model of its own: the pinned jobs are the others'
    jobs = [j for j in parse_suite(text).expand() if j.model != "dummy"]
    assert (jobs[0].job_id, jobs[-1].job_id) == (first, last)
    # writing the defaults out does not move them either
    spelled = text.replace("datasets:", "resampling: {val: holdout}\ndatasets:", 1)
    if "resampling:" not in text:
        assert [j.job_id for j in parse_suite(spelled).expand() if j.model != "dummy"] == [
            j.job_id for j in jobs
        ]


def test_job_ids_with_cross_fit_move_and_the_jobs_see_every_resampling_key(tmp_path: Path) -> None:
    base = parse_suite(HEAD).expand()
    assert base[0].resampling["val"] == "holdout" and base[0].resampling["inner_folds"] == 5
    crossed = parse_suite(HEAD + "resampling: {val: cross_fit}\n").expand()
    assert crossed[0].resampling["val"] == "cross_fit" and crossed[0].resampling["inner_folds"] == 5
    three = parse_suite(HEAD + "resampling: {val: cross_fit, inner_folds: 3}\n").expand()
    assert three[0].resampling["inner_folds"] == 3
    # cross-fitted results differ from the holdout ones, and with the number of inner folds
    ids = [{j.job_id for j in jobs} for jobs in (base, crossed, three)]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    # writing cross_fit's default inner_folds out is the same suite
    written = parse_suite(HEAD + "resampling: {val: cross_fit, inner_folds: 5}\n").expand()
    assert [j.job_id for j in written] == [j.job_id for j in crossed]


# ---------------------------------------------------------------------------------------------
# 8. the ensembles: block


def test_planted_memoriser_is_refused_unless_validation_is_out_of_sample(tmp_path: Path) -> None:
    # a decision tree's validation predictions are perfect when it trained on those rows: with
    # the default resampling its in-sample score would win every weight, so the config refuses it
    text = "datasets: [iris]\nmodels: [knn, {decision_tree: {max_depth: null}}]\nensembles: [caruana]\n"
    path, messages = load_errors(tmp_path, text)
    assert len(messages) == 1
    assert messages[0].startswith(f"{path}:3:1: ensembles: ")
    assert "`resampling: {fit_on_val: false}`" in messages[0]
    assert "`resampling: {val: cross_fit, inner_folds: 5}`" in messages[0]
    for resampling in ("{fit_on_val: false}", "{val: cross_fit}", "{val: cross_fit, inner_folds: 3}"):
        suite = suite_from(tmp_path, text + f"resampling: {resampling}\n", "ok.yaml")
        assert [e.label for e in suite.ensembles] == ["ensemble:caruana"], resampling


def test_ensemble_specs_have_defaults_labels_and_locations(tmp_path: Path) -> None:
    text = (
        "seed: 7\n"
        "datasets: [iris]\n"
        "models:\n"
        "  - knn: {grid: {n_neighbors: [3, 7]}}\n"
        "  - decision_tree\n"
        "resampling: {val: cross_fit}\n"
        "ensembles:\n"
        "  - caruana\n"  # line 8
        "  - caruana: {size: 10, members: [knn(n_neighbors=3), decision_tree]}\n"
        "  - stacking\n"
        "  - stacking: {final: random_forest, final_params: {n_estimators: 50}, label: forest_on_top}\n"
        "  - voting: {weights: {decision_tree: 2}}\n"
        "  - voting:\n"
    )
    suite = suite_from(tmp_path, text)
    path = tmp_path / "suite.yaml"
    specs = {e.label: e for e in suite.ensembles}
    assert list(specs) == [
        "ensemble:caruana",
        "ensemble:caruana(members=[knn(n_neighbors=3), decision_tree], size=10)",
        "ensemble:stacking",
        "forest_on_top",
        "ensemble:voting(weights={decision_tree: 2})",
        "ensemble:voting",
    ]
    first = specs["ensemble:caruana"]
    assert (first.kind, first.members, first.params) == ("caruana", None, {"size": 25, "seed": 7})
    assert first.where == f"{path}:8:5"
    second = specs["ensemble:caruana(members=[knn(n_neighbors=3), decision_tree], size=10)"]
    assert second.members == ("knn(n_neighbors=3)", "decision_tree")
    assert second.params == {"size": 10, "seed": 7}
    assert specs["ensemble:stacking"].params == {
        "final": "logistic_regression",
        "final_given": False,
        "final_params": {},
    }
    assert specs["forest_on_top"].params == {
        "final": "random_forest",
        "final_given": True,
        "final_params": {"n_estimators": 50},
    }
    assert specs["ensemble:voting(weights={decision_tree: 2})"].params == {"weights": {"decision_tree": 2.0}}
    assert specs["ensemble:voting"].params == {"weights": None}
    # ensembles are built from stored predictions: they add no jobs and move no job id
    plain = suite_from(tmp_path, text.split("ensembles:")[0], "plain.yaml")
    assert [j.job_id for j in suite.expand()] == [j.job_id for j in plain.expand()]
    assert plain.ensembles == []


def test_members_are_not_checked_against_broken_model_entries(tmp_path: Path) -> None:
    # the misspelt model is the one problem: its label must not also be "not a model of this suite"
    text = (
        "datasets: [iris]\nmodels: [knn, decison_tree]\nresampling: {fit_on_val: false}\n"
        "ensembles:\n  - voting: {members: [knn, decison_tree], weights: {decison_tree: 1}}\n  - caruana\n"
    )
    _, messages = load_errors(tmp_path, text)
    assert len(messages) == 1 and "unknown model 'decison_tree'" in messages[0]


def test_every_ensemble_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = ENS_MODELS + "ensembles:\n  - caruana: {size: 0}\n  - stacking: {final: nope}\n"
    path, messages = load_errors(tmp_path, text)
    assert [m.split(": ")[0] for m in messages] == [f"{path}:5:1", f"{path}:6:21", f"{path}:7:23"]


# ---------------------------------------------------------------------------------------------
# 8. parsing is pure; what depends on the machine is checked when a run starts


PLUGIN_WITH_MODEL = """
import pathlib
from sklearn.dummy import DummyClassifier
from mlbench.models.base import MODELS, ModelInfo, register_model

pathlib.Path(__file__).with_name("imported.marker").write_text("plugin code ran")
if "plugged" not in MODELS:
    register_model(ModelInfo(
        name="plugged",
        factory=lambda params, task, seed, n_jobs: DummyClassifier(**params),
        task_types=("classification",),
        param_names={"classification": frozenset({"strategy", "constant"})},
    ))
"""


def test_parsing_is_the_same_on_any_machine_and_runs_nothing(tmp_path: Path) -> None:
    # a suite written on a GPU machine, with a plugin model and a data file that is not here
    (tmp_path / "plug.py").write_text(PLUGIN_WITH_MODEL)
    text = (
        "plugins: [plug.py]\n"
        "datasets:\n  - iris\n  - csv: elsewhere/data.csv\n    target: y\n"
        "models:\n  - knn\n  - plugged: {constant: null, tune: {trials: 3, space: {strategy: [prior, uniform]}}}\n"
        "executor: {gpus: 2}\n"
    )
    path = write_suite(tmp_path, text)
    suite = load_suite(path)  # pure: no GPU probe, no file looked at, no plugin imported
    assert not (tmp_path / "imported.marker").exists()
    assert suite.executor.gpus == 2
    assert [m.label for m in suite.models] == ["knn", "plugged(tuned)", "dummy"]
    jobs = suite.expand()
    assert len(jobs) == 2 * 3 * 5
    # the machine checks: the same located messages `mlbench validate` prints
    with pytest.raises(ConfigError) as info:
        check_machine(suite)
    messages = info.value.messages
    assert any(m.startswith(f"{path}:4:10: datasets[1].csv:") and "data.csv" in m for m in messages), messages
    assert any(
        m.startswith(f"{path}:9:") and "executor.gpus" in m and "2 GPUs asked for" in m for m in messages
    )
    assert (tmp_path / "imported.marker").exists()  # checking the machine imports the plugins
    # with the plugin imported the model's parameters are checked, and the job ids are the same
    (tmp_path / "elsewhere").mkdir()
    write_csv(tmp_path / "elsewhere")
    path.write_text(text.replace("executor: {gpus: 2}\n", ""))
    checked = load_suite(path, machine=True)
    assert [j.job_id for j in checked.expand()] == [j.job_id for j in jobs]
    bad = text.replace("constant: null,", "constant: null, nope: 1,").replace("executor: {gpus: 2}\n", "")
    _, messages = load_errors(tmp_path, bad)
    assert "unknown parameter 'nope' for model 'plugged'" in messages[0]


def test_a_model_name_no_plugin_could_register_is_still_an_error_when_reading(tmp_path: Path) -> None:
    # without plugins in the suite, an unknown model is a typo on any machine
    with pytest.raises(ConfigError, match="unknown model 'knnn'"):
        parse_suite("datasets: [iris]\nmodels: [knnn]\n")


def test_without_the_boosters_extra_a_suite_naming_lightgbm_stops_before_any_job(tmp_path: Path) -> None:
    import os

    # a real interpreter in which `import lightgbm` / `import catboost` fail, as without the extra
    for name in ("lightgbm", "catboost"):
        blocker = tmp_path / "blocker" / name
        blocker.mkdir(parents=True)
        (blocker / "__init__.py").write_text(f"raise ModuleNotFoundError('No module named {name}')\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "datasets: [{builtin: wine}]\nmodels:\n  - knn\n  - lightgbm\n  - catboost: {iterations: 5}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "blocker"), os.getcwd()])}
    res = subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert res.returncode == 2, res.stderr
    assert f"{suite}:4:5: models[1]: model 'lightgbm' needs lightgbm, which is not installed" in res.stderr
    assert f"{suite}:5:5: models[2].catboost:" in res.stderr
    assert res.stderr.count("install mlbench[boosters]") == 2
    assert not (tmp_path / "out").exists()  # stopped before any job
    # reading the suite stays pure: no library looked for
    assert [m.name for m in load_suite(suite).models] == ["knn", "lightgbm", "catboost", "dummy"]


# ---------------------------------------------------------------------------------------------
# 9. grouped and time-ordered resampling, parameters per task (issue 18)


def write_daily(folder: Path, name: str = "daily.csv") -> Path:
    """30 days, two shops a day (4 groups of rows), a numeric target."""
    lines = ["day,shop,x,y"]
    for d in range(30):
        for s in range(2):
            lines.append(
                f"2024-01-{d + 1:02d},{'abcd'[(d + s) % 4]},{d * 0.1 + s},{(d * 7 + s * 3) % 11 + 0.5}"
            )
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


DAILY = "datasets:\n  - csv: daily.csv\n    target: y\nmodels: [knn]\nresampling: {RES}\n"


@pytest.mark.parametrize(
    ("resampling", "where", "needles"),
    [
        (
            "{kind: group_kfold, group: shp, folds: 3}",
            "5:40: resampling.group",
            ["`resampling.group: shp` names a column that is not in the file", "Did you mean 'shop'"],
        ),
        (
            "{kind: time_series, time: shop, folds: 3}",
            "5:39: resampling.time",
            ["the time column 'shop' does not parse as dates or numbers (e.g. 'a')"],
        ),
        (
            "{kind: time_series, time: x, folds: 3}",
            "5:39: resampling.time",
            [],  # numbers order rows too: no error (checked below)
        ),
        (
            "{kind: group_kfold, group: shop, folds: 5}",
            "5:53: resampling.folds",
            ["dataset 'daily': the data has 4 groups, fewer than 5 folds; use at most 4 folds"],
        ),
        (
            "{kind: time_series, time: day, folds: 4, gap: 26}",
            "5:59: resampling.gap",
            ["30 distinct times, too few for 4 time-ordered folds with a gap of 26"],
        ),
        (
            "{kind: group_kfold, group: y, folds: 3}",
            "5:40: resampling.group",
            ["names the target 'y'"],
        ),
    ],
)
def test_resampling_column_problems_are_located_config_errors(
    tmp_path: Path, resampling: str, where: str, needles: list[str]
) -> None:
    write_daily(tmp_path)
    text = DAILY.replace("{RES}", resampling)
    parse_suite(text, base_dir=tmp_path)  # parsing reads no data: these are machine checks
    if not needles:
        assert load_suite(write_suite(tmp_path, text), machine=True).resampling.time == "x"
        return
    located, what = one_error(tmp_path, text)
    assert located == where, what
    for needle in needles:
        assert needle in what


def test_a_run_with_a_bad_group_column_stops_before_any_job(tmp_path: Path) -> None:
    write_daily(tmp_path)
    path = write_suite(tmp_path, DAILY.replace("{RES}", "{kind: group_kfold, group: shp, folds: 3}"))
    result = mlbench("run", path, "--output", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}:5:40: resampling.group:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "results.sqlite").exists()  # no job ran, none was recorded
    result = mlbench("validate", path, cwd=tmp_path)
    assert result.returncode == 2 and f"{path}:5:40: resampling.group:" in result.stderr


def test_parameters_per_task_come_from_the_data_when_the_spec_does_not_say(tmp_path: Path) -> None:
    write_daily(tmp_path)  # y is a float target: a regression dataset without `task:`
    text = "datasets:\n  - csv: daily.csv\n    target: y\nmodels:\n  - logistic_regression: {C: 0.1}\n"
    parse_suite(text, base_dir=tmp_path)  # the spec alone does not say the task
    located, what = one_error(tmp_path, text)
    assert located == "5:27: models[0].logistic_regression.C"
    assert "dataset 'daily' is regression" in what and "Valid regression parameters" in what
    # Ridge's own parameter is fine on it
    ok = text.replace("models:", "models:\n  - knn: {n_neighbors: 3}", 1).replace("{C: 0.1}", "{alpha: 2.0}")
    load_suite(write_suite(tmp_path, ok), machine=True)  # alpha is Ridge's: valid for regression
    # a classification-only dataset and a classification parameter: fine
    load_suite(write_suite(tmp_path, "datasets: [iris]\nmodels:\n  - logistic_regression: {C: 0.1}\n"))


def test_job_ids_of_the_column_kinds_hash_their_column_and_others_do_not_move() -> None:
    kfold = parse_suite(HEAD).expand()
    spelled = parse_suite(HEAD + "resampling: {kind: kfold, gap: 0}\n").expand()
    assert [j.job_id for j in spelled] == [j.job_id for j in kfold]
    assert "group" in kfold[0].resampling and kfold[0].resampling["group"] is None
    a = parse_suite(HEAD + "resampling: {kind: group_kfold, group: a}\n").expand()
    b = parse_suite(HEAD + "resampling: {kind: group_kfold, group: b}\n").expand()
    t = parse_suite(HEAD + "resampling: {kind: time_series, time: a}\n").expand()
    g = parse_suite(HEAD + "resampling: {kind: time_series, time: a, gap: 1}\n").expand()
    ids = [{j.job_id for j in jobs} for jobs in (kfold, a, b, t, g)]
    assert all(not ids[i] & ids[j] for i in range(5) for j in range(i + 1, 5))
    assert len(a) == len(kfold) and len(t) == len(kfold)  # 5 folds each
