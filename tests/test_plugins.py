"""A model family in a plugin file is one room: the README's example runs, tunes and drives the checks.

Each test writes a plugin file and a suite, runs the suite through ``mlbench.run`` in a fresh
interpreter (the plugin's family is registered there, never in the test process, so no other test
sees it) and checks what that process stored and computed from the run.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Runs the suite, then reads the run back and applies the overfitting checks, in one process.
_RUN = """
import json, math, sys
import mlbench
from mlbench.analysis import overfitting as ovf
from mlbench.models import MODELS

suite, output, family = sys.argv[1:4]
run = mlbench.run(suite, output=output, quiet=True)
results = run.results()
info = MODELS.get(family)
checks = ovf.run_checks(run)
trials = run.trials()
html = (run.path / "index.html").read_text()
out = {
    "info": {
        "tuning_space": {task: sorted(space) for task, space in info.tuning_space.items()},
        "capacity_params": list(info.capacity_params),
        "remedies": {kind: list(remedy) for kind, remedy in info.remedies.items()},
    },
    "results": results[["model", "status", "error", "task_type", "n_trials", "best_params_json",
                        "test_accuracy", "params_json"]].to_dict("records"),
    "trials": [
        {"job_id": t.job_id, "params": t.params, "state": t.state, "value": t.value,
         "intermediate": {str(k): v for k, v in (t.intermediate or {}).items()}}
        for t in trials.itertuples()
    ],
    "checks": checks[["model", "kind", "remedy", "option"]].to_dict("records"),
    "capacity": [{"family": c["family"], "param": c["param"], "sizes": len(c["sizes"])}
                 for c in ovf.capacity_curves(results)],
    "remedy_options": ovf.remedy_options(),
    "html_has": {text: text in html for text in sys.argv[4:]},
}
print("RESULT " + json.dumps(out, default=str))
"""


def _readme_plugin() -> str:
    """The README's plugin example: the python block that starts with ``# my_models.py``."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)
    found = [block for block in blocks if block.startswith("# my_models.py")]
    assert len(found) == 1, "README.md must hold exactly one python block starting with `# my_models.py`"
    return found[0]


def _literal(source: str, name: str) -> object:
    """The value of a module-level ``NAME = <literal>`` in ``source``."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned in the plugin")


def _run(tmp_path: Path, plugin: str, models: list, family: str, *html: str) -> dict:
    (tmp_path / "my_models.py").write_text(plugin, encoding="utf-8")
    suite = {
        "name": "plugin",
        "seed": 0,
        "plugins": ["my_models.py"],
        "resampling": {"kind": "kfold", "folds": 2},
        "metrics": ["accuracy"],
        "datasets": [{"builtin": "wine"}],
        "models": models,
        "executor": {"kind": "local", "workers": 1},
        "baseline": False,  # the family's own jobs and checks only
    }
    (tmp_path / "suite.yaml").write_text(json.dumps(suite), encoding="utf-8")  # JSON is YAML
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(tmp_path / "suite.yaml"), str(tmp_path / "out"), family, *html],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def test_readme_family_plugin_runs_tunes_its_default_space_and_drives_the_overfitting_checks(
    tmp_path: Path,
) -> None:
    plugin = _readme_plugin()
    space = _literal(plugin, "SPACE")
    assert isinstance(space, dict) and space
    models = [
        {"gradient_boosting": {"tune": {"trials": 4}}},  # no `space:`: the family's default
        {"gradient_boosting": {"n_estimators": 20, "grid": {"max_depth": [1, 3, None]}}},
    ]
    out = _run(tmp_path, plugin, models, "gradient_boosting", "gradient_boosting: {min_samples_leaf: 5}")

    info = out["info"]
    assert info["tuning_space"]["classification"] == sorted(space)
    assert "max_depth" in info["capacity_params"]
    remedy, option = info["remedies"]["degradation"]

    # stored results: every job ran, the tuned one with its trials
    results = out["results"]
    assert {r["status"] for r in results} == {"ok"}, [r["error"] for r in results]
    assert len(results) == 2 * (1 + 3)  # 2 folds x (tuned + 3 depths)
    tuned = [r for r in results if r["model"] == "gradient_boosting(tuned)"]
    assert len(tuned) == 2
    for row in tuned:
        assert row["n_trials"] == 4 and row["test_accuracy"] > 0.8
        assert set(json.loads(row["best_params_json"])) == set(space)

    # the trials searched the family's default space, within its bounds
    trials = out["trials"]
    assert len(trials) == 2 * 4 and {t["state"] for t in trials} == {"complete"}
    lo, hi = space["max_features"]["float"]
    for t in trials:
        assert set(t["params"]) == set(space)
        assert lo <= t["params"]["max_features"] <= hi
        assert t["params"]["min_samples_leaf"] in space["min_samples_leaf"]
        assert 0.0 <= t["value"] <= 1.0

    # the overfitting checks use the family's remedy and its capacity parameter
    degradation = [c for c in out["checks"] if c["kind"] == "degradation"]
    assert {c["model"] for c in degradation} == {r["model"] for r in results}
    assert all((c["remedy"], c["option"]) == (remedy, option) for c in degradation)
    assert {"family": "gradient_boosting", "param": "max_depth", "sizes": 1} in out["capacity"]
    assert option in out["remedy_options"][remedy]
    assert out["html_has"][option]  # the run's own report lays it beside the other remedies


_EPOCH_PLUGIN = '''
import contextlib

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import SGDClassifier

from mlbench.models import ModelInfo, register_model
from mlbench.models.base import final_estimator, preprocessed


class EpochSGD(ClassifierMixin, BaseEstimator):
    """SGD over `epochs` passes of partial_fit, calling `after_epoch(epoch)` when one is set."""

    def __init__(self, epochs=6, alpha=1e-4, random_state=0):
        self.epochs, self.alpha, self.random_state = epochs, alpha, random_state

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.sgd_ = SGDClassifier(loss="log_loss", alpha=self.alpha, random_state=self.random_state)
        for epoch in range(1, self.epochs + 1):
            self.sgd_.partial_fit(X, y, classes=self.classes_)
            hook = getattr(self, "after_epoch", None)
            if hook is not None:
                hook(epoch)
        return self

    def predict_proba(self, X):
        return self.sgd_.predict_proba(X)


@contextlib.contextmanager
def epoch_pruning(estimator, X_val, score, report):
    model = final_estimator(estimator)
    model.after_epoch = lambda epoch: report(score(model.predict_proba(preprocessed(estimator, X_val))), epoch)
    try:
        yield
    finally:
        del model.after_epoch


register_model(
    ModelInfo(
        name="epoch_sgd",
        factory=lambda params, task_type, seed, n_jobs: EpochSGD(random_state=seed, **params),
        task_types=("classification",),
        param_names={"classification": frozenset({"epochs", "alpha"})},
        scale=True,
        tuning_space={"classification": {"alpha": {"float": [1e-6, 1.0], "log": True}}},
        pruning=epoch_pruning,
    )
)
'''


def test_a_plugin_familys_pruning_hook_reports_each_epoch_to_the_study(tmp_path: Path) -> None:
    # tuning knows no family by name: a plugin's own pruning hook turns the median pruner on
    # and reports one value per epoch
    out = _run(tmp_path, _EPOCH_PLUGIN, [{"epoch_sgd": {"tune": {"trials": 8}}}], "epoch_sgd")
    assert {r["status"] for r in out["results"]} == {"ok"}, [r["error"] for r in out["results"]]
    trials = out["trials"]
    assert len(trials) == 2 * 8 and {t["state"] for t in trials} <= {"complete", "pruned"}
    for t in trials:
        steps = sorted(int(s) for s in t["intermediate"])
        # a pruned trial stops at the epoch it was cut; a complete one reports all six
        assert steps == list(range(1, len(steps) + 1)) and steps
        assert len(steps) == 6 or t["state"] == "pruned"
