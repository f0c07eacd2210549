"""nudgenet.sklearn against scikit-learn's own MLP, with identical hyper-parameters.

    PYTHONPATH=src python benchmarks/sklearn_mlp.py                 # 5 seeds; a few minutes
    PYTHONPATH=src python benchmarks/sklearn_mlp.py --seeds 1 --solvers adam

Both estimators get scikit-learn's defaults (``hidden_layer_sizes=(100,)``, ``adam``,
``batch_size=200`` (``"auto"``), ``max_iter=200``, ``tol=1e-4``), the same ``random_state`` (so
the same starting weights) and the same rows, on ``load_digits``, ``load_breast_cancer``,
``make_classification(20000, 40)`` and ``make_regression(20000, 40)``; then the same with
``solver="lbfgs"``.  Per seed: a stratified-free 75/25 split drawn from the seed, the inputs
standardised on the training rows (a regression's targets divided by their training standard
deviation, so the default learning rate suits them), one fit each, timed by the wall clock
around ``fit``; the held-out score is accuracy or R².  Before and after each row, the cost of
overwriting 512 KiB another CPU has just read (:func:`nudgenet.bench.cores.cross_core_write`):
on a virtual machine it tells whether the two CPUs share a cache at the time, which changes
scikit-learn's time (docs/performance.md).

nudgenet's estimators train in float32 by default for ``adam`` (scikit-learn in float64, the
inputs' dtype) and in float64 for ``lbfgs``; the table says which.  Each row gives the median
over the seeds of both scores, their difference in points (nudgenet − scikit-learn; the target
is within ±1 or better) and the median ratio of fit times (scikit-learn / nudgenet; the target
is ≥ 3).  BLAS threads are left as they are (``--threads N`` limits both to N): scikit-learn's
MLP uses every thread for every product, nudgenet one where the products are small
(docs/performance.md).  Wall-clock ratios need a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings
from functools import partial

from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnClassifier
from sklearn.neural_network import MLPRegressor as SklearnRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from nudgenet.bench.arguments import names_from, positive_int
from nudgenet.bench.cores import around, described
from nudgenet.sklearn import MLPClassifier, MLPRegressor

DATASETS = {  # name: (loader, is a classification)
    "digits": (lambda: datasets.load_digits(return_X_y=True), True),
    "breast_cancer": (lambda: datasets.load_breast_cancer(return_X_y=True), True),
    "classification_20000x40": (
        lambda: datasets.make_classification(20000, 40, random_state=0), True),
    "regression_20000x40": (lambda: datasets.make_regression(20000, 40, random_state=0), False),
}  # fmt: skip
SOLVERS = ("adam", "sgd", "lbfgs")  # the estimators' solvers, all comparable


def prepared(name: str, seed: int):
    """The data set split 75/25 by ``seed``, inputs standardised on the training rows."""
    load, classification = DATASETS[name]
    x, y = load()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    if not classification:
        scale = y_train.std()
        y_train, y_test = y_train / scale, y_test / scale
    return scaler.transform(x_train), scaler.transform(x_test), y_train, y_test


def timed_fit(est, x, y) -> tuple[object, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached: ConvergenceWarning
        began = time.perf_counter()
        est.fit(x, y)
        return est, time.perf_counter() - began


def compare(name: str, solver: str, seeds: int) -> dict:
    """Median scores, score difference and fit-time ratio over ``seeds`` seeds; and the CPUs'
    cross-core write cost just before and after (``cross_core``: where the hypervisor puts the
    two CPUs decides how fast scikit-learn's two BLAS threads are)."""
    (rows, dtype), probes = around(partial(fits, name, solver, seeds))
    sk_score, ng_score, sk_s, ng_s, sk_iter, ng_iter = (statistics.median(c) for c in zip(*rows))
    return {
        "data": name, "solver": solver, "dtype": dtype,
        "sklearn": sk_score, "nudgenet": ng_score,
        "points": statistics.median(100 * (r[1] - r[0]) for r in rows),
        "sklearn_s": sk_s, "nudgenet_s": ng_s,
        "speedup": statistics.median(r[2] / r[3] for r in rows),
        "epochs": f"{sk_iter:g} / {ng_iter:g}",
        "cross_core": probes,
    }  # fmt: skip


def fits(name: str, solver: str, seeds: int) -> tuple[list[tuple], str]:
    """Per seed both held-out scores, both fit times and both iteration counts; and the dtype
    nudgenet trained in."""
    classification = DATASETS[name][1]
    ours, theirs = (MLPClassifier, SklearnClassifier) if classification else (
        MLPRegressor, SklearnRegressor)  # fmt: skip
    rows = []
    for seed in range(seeds):
        x_train, x_test, y_train, y_test = prepared(name, seed)
        sk, sk_seconds = timed_fit(theirs(solver=solver, random_state=seed), x_train, y_train)
        ng, ng_seconds = timed_fit(ours(solver=solver, random_state=seed), x_train, y_train)
        rows.append((sk.score(x_test, y_test), ng.score(x_test, y_test), sk_seconds, ng_seconds,
                     sk.n_iter_, ng.n_iter_))  # fmt: skip
    return rows, str(ng._model.parameters()[0].dtype)


def table(results: list[dict]) -> str:
    head = (
        "| data | solver | nudgenet dtype | scikit-learn score | nudgenet score | Δ points | "
        "scikit-learn fit s | nudgenet fit s | fit speed-up | iterations (sk / ng) | "
        "cross-core write, before and after |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in results:
        lines.append(
            f"| {r['data']} | {r['solver']} | {r['dtype']} | {r['sklearn']:.4f} | "
            f"{r['nudgenet']:.4f} | {r['points']:+.2f} | {r['sklearn_s']:.3f} | "
            f"{r['nudgenet_s']:.3f} | {r['speedup']:.1f}× | {r['epochs']} | "
            f"{described(r['cross_core'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=positive_int, default=5)
    parser.add_argument("--solvers", type=names_from(SOLVERS), default=["adam", "lbfgs"])
    parser.add_argument("--data", type=names_from(DATASETS), default=list(DATASETS))
    parser.add_argument("--threads", type=positive_int, help="BLAS threads for both")
    args = parser.parse_args()
    limit = threadpool_limits(args.threads) if args.threads else contextlib.nullcontext()
    results = []
    with limit:
        for solver in args.solvers:
            for name in args.data:
                results.append(compare(name, solver, args.seeds))
                print(table(results[-1:]).splitlines()[-1], flush=True)
    print()
    print(f"median of {args.seeds} seed(s); speed-up = scikit-learn fit time / nudgenet's")
    print(table(results))


if __name__ == "__main__":
    main()
