"""Draw report figures ahead of the report, in a process of its own (``python -m mlbench.report.prerender``).

The coordinator starts it once the first dataset of a run has all its jobs recorded, at the
lowest CPU priority, and writes one dataset name per line to its standard input each time a
dataset is finished (again when its mismatch checks are recorded). For each, it draws that
dataset's figures into the run's figure cache (:func:`mlbench.report.build.prerender_dataset`),
so the report at the end of the run mostly assembles figures already drawn.

A process, not a thread of the coordinator: a thread at the lowest priority that holds the
interpreter lock while the jobs keep the cores busy would stall the coordinator's watchdog. The
process dies with the coordinator (``PR_SET_PDEATHSIG``) and is stopped when the jobs are done;
it writes only cache files, atomically, so stopping it at any moment loses nothing.
"""

from __future__ import annotations

import json
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    """``prerender RUN_DIR MODELS_JSON``; dataset names on standard input, one per line."""
    import contextlib
    import warnings

    from mlbench.execution._forkserver import set_death_signal

    set_death_signal(signal.SIGKILL)
    args = sys.argv[1:] if argv is None else argv
    run_dir, models = args[0], json.loads(args[1])
    warnings.simplefilter("ignore")  # nobody reads this process's stderr
    from mlbench.reader import open_run
    from mlbench.report.build import prerender_dataset

    for line in sys.stdin:
        dataset = line.rstrip("\n")
        if not dataset:
            continue
        # best effort: the report draws whatever this could not
        with contextlib.suppress(Exception):
            prerender_dataset(open_run(run_dir), dataset, models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
