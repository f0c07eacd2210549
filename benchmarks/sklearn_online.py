"""nudgenet.sklearn against scikit-learn's own MLP where ``fit``'s benchmark does not look: a
``partial_fit`` loop of small batches, and a wide sparse ``X``.

    PYTHONPATH=src python benchmarks/sklearn_online.py                 # about a minute
    PYTHONPATH=src python benchmarks/sklearn_online.py --calls 50 --rows 500

``partial_fit``: ``MLPClassifier(random_state=0)`` (scikit-learn's defaults) on ``load_digits``
scaled to [0, 1], ``--calls`` calls of each batch size in turn over the rows, after 20 calls to
warm up; the median of 5 rounds of the time per call, each estimator's rounds interleaved with
the other's.  A call is mostly its checks of ``X`` and ``y`` (the same scikit-learn code in both),
not its one step.

Sparse: a random CSR matrix of ``--rows`` rows, 20,000 columns and 0.2% non-zeros (TF-IDF's
shape), three classes; ``MLPClassifier((64,), max_iter=3)``, the peak memory ``tracemalloc``
sees during ``fit`` and during ``predict_proba`` of all the rows, and ``fit``'s seconds.
scikit-learn multiplies the sparse matrix; nudgenet makes it dense a batch at a time to train
(in float32) and at most 16 MiB of rows at a time to predict.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier as SklearnClassifier

from nudgenet.bench.arguments import positive_int
from nudgenet.sklearn import MLPClassifier

ESTIMATORS = {"scikit-learn": SklearnClassifier, "nudgenet": MLPClassifier}
BATCHES = (16, 64, 256)
COLUMNS, DENSITY = 20_000, 0.002


def per_call(cls, x, y, batch: int, calls: int) -> float:
    """Seconds per ``partial_fit`` call of ``batch`` rows, over ``calls`` calls, after 20 (the
    first sets up the network)."""
    est, classes = cls(random_state=0), np.unique(y)

    def call(k: int) -> None:
        start = (k * batch) % (len(x) - batch)
        est.partial_fit(x[start : start + batch], y[start : start + batch], classes=classes)

    for k in range(20):
        call(k)
    began = time.perf_counter()
    for k in range(calls):
        call(k)
    return (time.perf_counter() - began) / calls


def partial_fit_rows(calls: int) -> list[str]:
    x, y = load_digits(return_X_y=True)
    x = x / 16
    lines = []
    for batch in BATCHES:
        rounds = {name: [] for name in ESTIMATORS}
        for _ in range(5):
            for name, cls in ESTIMATORS.items():
                rounds[name].append(per_call(cls, x, y, batch, calls))
        sk, ng = (1e3 * statistics.median(rounds[name]) for name in ESTIMATORS)
        lines.append(f"| partial_fit, {batch} rows | {sk:.3f} ms | {ng:.3f} ms | {sk / ng:.2f}× |")
    return lines


def peak_mib(call) -> float:
    """The peak of memory traced while ``call()`` runs, in MiB."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def sparse_rows(rows: int) -> list[str]:
    x = sp.random(rows, COLUMNS, density=DENSITY, format="csr", random_state=0)
    y = np.random.default_rng(0).integers(0, 3, rows)
    found = {}
    for name, cls in ESTIMATORS.items():
        est = cls((64,), max_iter=3, random_state=0)
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter reached
            fit_mib = peak_mib(lambda est=est: est.fit(x, y))
        seconds = time.perf_counter() - began
        found[name] = (fit_mib, peak_mib(lambda est=est: est.predict_proba(x)), seconds)
    (sk_fit, sk_predict, sk_s), (ng_fit, ng_predict, ng_s) = found.values()
    shape = f"{rows}×{COLUMNS} sparse"
    return [
        f"| {shape}: fit peak memory | {sk_fit:.0f} MiB | {ng_fit:.0f} MiB | "
        f"{sk_fit / ng_fit:.2f}× |",
        f"| {shape}: predict peak memory | {sk_predict:.0f} MiB | {ng_predict:.0f} MiB | "
        f"{sk_predict / ng_predict:.2f}× |",
        f"| {shape}: fit time (with tracing) | {sk_s:.2f} s | {ng_s:.2f} s | {sk_s / ng_s:.2f}× |",
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=positive_int, default=200, help="calls a round")
    parser.add_argument("--rows", type=positive_int, default=5000, help="rows of the sparse X")
    args = parser.parse_args(argv)
    print("| case | scikit-learn | nudgenet | scikit-learn / nudgenet |")
    print("|---|---|---|---|")
    for line in [*partial_fit_rows(args.calls), *sparse_rows(args.rows)]:
        print(line, flush=True)
    print(f"\nmedian of 5 interleaved rounds of {args.calls} calls; a ratio above 1: nudgenet "
          "takes less")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
