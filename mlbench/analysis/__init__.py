"""Analyses of a results table: pure functions, DataFrame in, DataFrame or dict out.

Every function takes the table from :func:`mlbench.load_results` (latest attempt per job).
Models are scored at each dataset's reference size (the largest training size the suite asked
for that ran), the same for every model: a model that failed there is failed on that dataset
(ranked last, left out of the tests), never scored on a smaller size. Datasets are grouped by the
models that apply to them, and models are ranked only within a group (see
:mod:`mlbench.analysis.tables`). ``metric=None`` means each dataset's primary metric:
the first ``test_<m>`` column with values for its task type, in the order accuracy,
balanced_accuracy, f1_macro, roc_auc, log_loss (classification) and rmse, mae, r2 (regression),
unless ``primary={task_type: metric}`` says otherwise.

Importing this package pulls in numpy and pandas only (no torch, matplotlib or scipy), so it is
cheap to use from notebooks and the report.

Examples
--------
>>> import mlbench
>>> from mlbench.analysis import learning_curves, crossovers, leaderboard
>>> results = mlbench.load_results("reports/images")  # doctest: +SKIP
>>> curves = learning_curves(results)  # doctest: +SKIP
>>> crossovers(curves)  # doctest: +SKIP
"""

from __future__ import annotations

from mlbench.analysis.ensembles import Selection, caruana_selection, weighted_blend
from mlbench.analysis.intervals import bootstrap_interval, corrected_t_interval
from mlbench.analysis.run_ensembles import build_ensembles, ensemble_gains, ensemble_weights
from mlbench.analysis.scaling import (
    BACKTEST_FRACTION,
    HORIZON,
    R2_MIN,
    backtest,
    crossovers,
    extrapolate,
    fit_power_law,
    fit_power_laws,
    learning_curves,
)
from mlbench.analysis.stats import (
    compare_runs,
    confidence_interval,
    critical_difference,
    dataset_groups,
    error_of,
    friedman_test,
    leaderboard,
    per_fold,
    primary_metrics,
    ranks,
    reference_sizes,
    reference_status,
    score_table,
    summarize_scores,
    wilcoxon_holm,
    wilcoxon_min_datasets,
)
from mlbench.analysis.verdict import DatasetVerdict, verdict, verdict_backtest, verdict_sentences

__all__ = [
    "BACKTEST_FRACTION",
    "HORIZON",
    "R2_MIN",
    "DatasetVerdict",
    "Selection",
    "backtest",
    "bootstrap_interval",
    "build_ensembles",
    "caruana_selection",
    "compare_runs",
    "confidence_interval",
    "corrected_t_interval",
    "critical_difference",
    "crossovers",
    "dataset_groups",
    "ensemble_gains",
    "ensemble_weights",
    "error_of",
    "extrapolate",
    "fit_power_law",
    "fit_power_laws",
    "friedman_test",
    "leaderboard",
    "learning_curves",
    "per_fold",
    "primary_metrics",
    "ranks",
    "reference_sizes",
    "reference_status",
    "score_table",
    "summarize_scores",
    "verdict",
    "verdict_backtest",
    "verdict_sentences",
    "weighted_blend",
    "wilcoxon_holm",
    "wilcoxon_min_datasets",
]
