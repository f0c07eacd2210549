"""Training benchmark: nudgenet against plain NumPy, PyTorch and scikit-learn, in one run.

``python -m nudgenet.bench`` trains 784-input, 10-class MLPs with softmax cross-entropy and plain
SGD (lr 0.1, rows reshuffled every epoch) on random float32 data, and prints per implementation
and architecture the median seconds per epoch after a warm-up epoch, GFLOP/s (6 × parameters ×
samples per epoch), the ratio to each comparator, the fraction of this machine's float32 GEMM
ceiling (measured in the same run, with the copy bandwidth), peak memory, and the time to predict
every row.  ``--json PATH`` writes it all as JSON.  ``--quick`` is a seconds-long smoke run.

Two floors run beside them: ``gemm-numpy`` and ``gemm-torch`` time only the matrix products of
the same training steps (z = a W, ∂W = aᵀ δ, δ Wᵀ) through NumPy's BLAS on the threads ``fit``
uses, and through PyTorch's BLAS: no implementation calling that BLAS can train faster, so
nudgenet's distance above its floor is its own overhead, and the gap between the floors is the
libraries' BLAS.

Architectures: A = 784-16-16-10 (batch 100 and 10), B = 784-128-64-10, C = 784-1024-1024-10
(batch 100; by default on a 10,000-row subset, as the table says).  Each implementation runs in
its own subprocess (clean peak memory, no shared thread pools); comparators that are not
installed (torch, scikit-learn) are skipped with a note.  See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info

ARCHITECTURES = {
    "A": (784, 16, 16, 10),
    "B": (784, 128, 64, 10),
    "C": (784, 1024, 1024, 10),
}
IMPLEMENTATIONS = ("nudgenet", "numpy", "torch", "sklearn", "gemm-numpy", "gemm-torch")
LR = 0.1


def parameter_count(sizes) -> int:
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def make_data(samples: int, features: int = 784, classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((samples, features), dtype=np.float32), rng.integers(0, classes, samples)


def _median(times):
    return statistics.median(times)


# --- the implementations (each: train `epochs` epochs, return per-epoch seconds and a predictor)


def run_nudgenet(sizes, x, y, batch, epochs):
    import nudgenet as ng

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [ng.Linear(a, b, seed=i), ng.ReLU()]
    model = ng.Sequential(*layers[:-1])
    optimizer = ng.optim.SGD(model.parameters(), lr=LR)
    history = ng.fit(
        model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=epochs, batch_size=batch,
        seed=0, verbose=0,
    )  # fmt: skip
    return history.history["seconds"], lambda: ng.predict(model, x)


def run_numpy(sizes, x, y, batch, epochs):
    """The baseline: a plain, idiomatic NumPy training loop (what one writes by hand)."""
    rng = np.random.default_rng(0)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (a + b))
        params.append(
            [rng.uniform(-limit, limit, (a, b)).astype(np.float32), np.zeros(b, np.float32)]
        )
    last = len(params) - 1

    def forward(xb):
        acts = [xb]
        for i, (w, b) in enumerate(params):
            z = acts[-1] @ w + b
            acts.append(np.maximum(z, 0) if i < last else z)
        return acts

    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            xb, yb = x[idx], y[idx]
            m = len(idx)
            acts = forward(xb)
            z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            total += -np.log(p[np.arange(m), yb]).sum()
            d = p
            d[np.arange(m), yb] -= 1
            d /= m
            for i in range(last, -1, -1):
                w, b = params[i]
                grad_w, grad_b = acts[i].T @ d, d.sum(axis=0)
                if i:
                    d = (d @ w.T) * (acts[i] > 0)
                w -= LR * grad_w
                b -= LR * grad_b
        times.append(time.perf_counter() - started)
    return times, lambda: forward(x)[-1]


def run_torch(sizes, x, y, batch, epochs):
    import torch

    torch.manual_seed(0)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for start in range(0, len(xt), batch):
            idx = order[start : start + batch]
            optimizer.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
            total += loss.item()
        times.append(time.perf_counter() - started)

    def predict():
        with torch.no_grad():
            return model(xt).numpy()

    return times, predict


def run_sklearn(sizes, x, y, batch, epochs):
    import warnings

    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=sizes[1:-1], solver="sgd", learning_rate_init=LR, momentum=0.0,
        alpha=0.0, batch_size=batch, shuffle=True, random_state=0,
    )  # fmt: skip
    classes = np.arange(sizes[-1])
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            started = time.perf_counter()
            model.partial_fit(x, y, classes=classes)  # one pass over the shuffled rows
            times.append(time.perf_counter() - started)
    return times, lambda: model.predict_proba(x)


# --- the floors: only the matrix products of a training step, nothing else


def _gemm_plan(sizes, batch):
    """Per layer ``(a, W, z, δ, ∂W, δ below)`` shapes of one step at ``batch`` rows."""
    return [
        ((batch, a), (a, b), (batch, b), (batch, b), (a, b), (batch, a) if i else None)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
    ]


def _time_products(plan, new, matmul, transpose, steps, epochs, x):
    """Seconds per epoch of ``steps`` steps of z = a W (every layer), then, last layer first,
    ∂W = aᵀ δ and δ Wᵀ (not for the first layer); and a predictor running z = a W over every
    row of ``x`` (streamed from memory) in chunks of 1024 rows, as ``ng.predict`` does."""
    layers = [tuple(None if shape is None else new(shape) for shape in shapes) for shapes in plan]
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        for _ in range(steps):
            for a, w, z, _, _, _ in layers:
                matmul(a, w, out=z)
            for a, w, _, d, grad_w, below in reversed(layers):
                matmul(transpose(a), d, out=grad_w)
                if below is not None:
                    matmul(d, transpose(w), out=below)
        times.append(time.perf_counter() - started)
    rows = min(1024, len(x))
    outs = [new((rows, shape[1][1])) for shape in plan]

    def predict():
        for start in range(0, len(x), rows):
            a = x[start : start + rows]
            for (_, w, *_), z in zip(layers, outs):
                a = matmul(a, w, out=z[: len(a)])

    return times, predict


def run_gemm_numpy(sizes, x, y, batch, epochs):
    """The floor through NumPy's BLAS, on the BLAS threads nudgenet's ``fit`` would use."""
    import nudgenet as ng
    from nudgenet.compiled import blas_threads_for

    model = ng.Sequential(*[ng.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    rng = np.random.default_rng(0)

    def new(shape):
        return rng.random(shape, dtype=np.float32)

    steps = -(-len(x) // batch)
    with blas_threads_for(model, batch):
        times, predict = _time_products(
            _gemm_plan(sizes, batch), new, np.matmul, np.transpose, steps, epochs, x
        )
    return times, predict


def run_gemm_torch(sizes, x, y, batch, epochs):
    """The floor through PyTorch's BLAS, on its default threads."""
    import torch

    def new(shape):
        return torch.rand(shape)

    steps = -(-len(x) // batch)
    xt = torch.from_numpy(x)
    return _time_products(_gemm_plan(sizes, batch), new, torch.mm, torch.t, steps, epochs, xt)


RUNNERS = {
    "nudgenet": run_nudgenet,
    "numpy": run_numpy,
    "torch": run_torch,
    "sklearn": run_sklearn,
    "gemm-numpy": run_gemm_numpy,
    "gemm-torch": run_gemm_torch,
}
MODULES = {"torch": "torch", "sklearn": "sklearn", "gemm-torch": "torch"}
FLOORS = ("gemm-numpy", "gemm-torch")


def _max_rss_mib() -> float:
    """This process's peak resident memory (VmHWM on Linux: unlike ru_maxrss it does not carry
    the parent's peak across exec)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def worker(impl: str, arch: str, batch: int, samples: int, epochs: int) -> dict:
    """Run one implementation on one configuration (in its own process) and measure it."""
    if impl in MODULES:
        __import__(MODULES[impl])  # imported before the baseline memory reading
    sizes = ARCHITECTURES[arch]
    x, y = make_data(samples, sizes[0], sizes[-1])
    rss_data = _max_rss_mib()
    times, predict = RUNNERS[impl](sizes, x, y, batch, epochs + 1)
    predict()  # warm-up
    predict_times = []
    for _ in range(3):
        started = time.perf_counter()
        predict()
        predict_times.append(time.perf_counter() - started)
    return {
        "epoch_seconds": times[1:],
        "predict_seconds": _median(predict_times),
        "peak_rss_mib": _max_rss_mib(),
        "peak_over_data_mib": _max_rss_mib() - rss_data,
    }


# --- the machine's ceilings -----------------------------------------------------------------


def gemm_ceiling(n: int = 2048, repeats: int = 5) -> float:
    """float32 GFLOP/s of an n×n×n matrix product with NumPy's BLAS (default threads), median."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.matmul(a, a, out=out)
        times.append(time.perf_counter() - started)
    return 2 * n**3 / _median(times) / 1e9


def copy_bandwidth(mib: int = 256, repeats: int = 5) -> float:
    """GB/s moved (read + write) by copying a ``mib``-MiB float32 array, median."""
    src = np.ones(mib * 2**18, dtype=np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - started)
    return 2 * src.nbytes / _median(times) / 1e9


def _blas_info() -> str:
    return ", ".join(
        f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    )


# --- the run ------------------------------------------------------------------------------------


def configurations(args):
    """``(arch, batch, samples)`` to run."""
    if args.quick:
        runs = [("A", 100, 1000), ("A", 10, 500), ("C", 100, 200)]
    else:
        n, c = args.samples, args.c_samples
        runs = [("A", 100, n), ("A", 10, n), ("B", 100, n), ("C", 100, c)]
    return [run for run in runs if run[0] in args.arch]


def available(impls) -> tuple[list[str], list[str]]:
    """The implementations that can run here, and a note per one that cannot."""
    import importlib.util

    ok, notes = [], []
    for impl in impls:
        module = MODULES.get(impl)
        if module and importlib.util.find_spec(module) is None:
            notes.append(f"{impl}: skipped ({module} is not installed)")
        else:
            ok.append(impl)
    return ok, notes


def run_worker(impl, arch, batch, samples, epochs) -> dict:
    command = [sys.executable, "-m", "nudgenet.bench", "--worker", impl, arch, str(batch)]
    command += [str(samples), str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def benchmark(args) -> dict:
    impls, notes = available(args.impl)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": _blas_info(),
        "load_average_before": os.getloadavg()[0],
    }
    size, mib = (512, 16) if args.quick else (2048, 256)
    ceilings = [(gemm_ceiling(size), copy_bandwidth(mib))]
    for impl, module in MODULES.items():
        if impl in impls:
            machine[module] = __import__(module).__version__
    results = []
    epochs, rounds = (1, 1) if args.quick else (args.epochs, args.rounds)
    for arch, batch, samples in configurations(args):
        flops = 6 * parameter_count(ARCHITECTURES[arch]) * samples
        rows = {impl: {"impl": impl, "arch": arch, "batch": batch, "samples": samples}
                for impl in impls}  # fmt: skip
        runs = {impl: [] for impl in impls}
        for _ in range(rounds):  # rounds alternate the implementations: load drifts
            for impl in impls:
                runs[impl].append(run_worker(impl, arch, batch, samples, epochs))
        for impl, row in rows.items():
            row.update(_merge(runs[impl]))
            if "seconds" in row:
                row["gflops"] = flops / row["seconds"] / 1e9
            results.append(row)
            print(f"  {arch} batch {batch:>3} {impl:>8}: {_short(row)}", file=sys.stderr)
    # the ceilings again at the end (the machine is shared): the best of the two counts
    ceilings.append((gemm_ceiling(size), copy_bandwidth(mib)))
    machine["gemm_gflops"] = max(g for g, _ in ceilings)
    machine["copy_gbps"] = max(c for _, c in ceilings)
    machine["load_average_after"] = os.getloadavg()[0]
    for row in results:
        if "gflops" in row:
            row["fraction_of_gemm"] = row["gflops"] / machine["gemm_gflops"]
    _add_ratios(results)
    return {"machine": machine, "notes": notes, "results": results}


def _merge(runs: list[dict]) -> dict:
    """One row from several worker runs: medians over every timed epoch, the largest peak."""
    errors = [run["error"] for run in runs if "error" in run]
    if errors:
        return {"error": errors[0]}
    epochs = [t for run in runs for t in run["epoch_seconds"]]
    return {
        "epoch_seconds": epochs,
        "epochs_timed": len(epochs),
        "seconds": _median(epochs),
        "predict_seconds": _median([run["predict_seconds"] for run in runs]),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "peak_over_data_mib": max(run["peak_over_data_mib"] for run in runs),
    }


def _short(row) -> str:
    if "error" in row:
        return f"error: {row['error']}"
    return f"{row['seconds']:.4f} s/epoch"


def _add_ratios(results) -> None:
    """``speedup_vs_<impl>``: that implementation's seconds / nudgenet's, same configuration;
    ``times_<floor>``: nudgenet's seconds / a floor's (how far above its matrix products)."""
    for row in results:
        if row["impl"] != "nudgenet" or "seconds" not in row:
            continue
        for other in results:
            same = (other["arch"], other["batch"], other["samples"]) == (
                row["arch"], row["batch"], row["samples"]
            )  # fmt: skip
            if not same or other is row or "seconds" not in other:
                continue
            if other["impl"] in FLOORS:
                row[f"times_{other['impl']}"] = row["seconds"] / other["seconds"]
                row[f"predict_times_{other['impl']}"] = (
                    row["predict_seconds"] / other["predict_seconds"]
                )
            else:
                row[f"speedup_vs_{other['impl']}"] = other["seconds"] / row["seconds"]
                row[f"predict_speedup_vs_{other['impl']}"] = (
                    other["predict_seconds"] / row["predict_seconds"]
                )


def format_table(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['processor']}, {m['cpus']} CPUs, {m['platform']}",
        f"numpy {m['numpy']}, BLAS {m['blas']}"
        + (f", torch {m['torch']}" if "torch" in m else "")
        + (f", scikit-learn {m['sklearn']}" if "sklearn" in m else ""),
        f"ceilings: float32 GEMM {m['gemm_gflops']:.1f} GFLOP/s, copy {m['copy_gbps']:.1f} GB/s; "
        f"load average {m['load_average_before']:.1f} before, {m['load_average_after']:.1f} after",
        *report["notes"],
        "",
        "| arch | batch | rows | impl | s/epoch (median) | GFLOP/s | % GEMM | peak MiB "
        "(over data) | predict s | nudgenet speedup (train / predict) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_config = {}
    for row in report["results"]:
        by_config.setdefault((row["arch"], row["batch"], row["samples"]), []).append(row)
    for (arch, batch, samples), rows in by_config.items():
        ours = next((r for r in rows if r["impl"] == "nudgenet"), {})
        for row in rows:
            head = f"| {arch} | {batch} | {samples} | {row['impl']} |"
            if "error" in row:
                lines.append(f"{head} error: {row['error']} |||||||")
                continue
            speed, key, floor = "", f"speedup_vs_{row['impl']}", f"times_{row['impl']}"
            if key in ours:
                speed = f"{ours[key]:.2f}× / {ours['predict_' + key]:.2f}×"
            elif floor in ours:
                speed = f"floor: nudgenet {ours[floor]:.2f}× / {ours['predict_' + floor]:.2f}× it"
            lines.append(
                f"{head} {row['seconds']:.4f} | {row['gflops']:.1f} | "
                f"{100 * row['fraction_of_gemm']:.0f}% | {row['peak_rss_mib']:.0f} "
                f"({row['peak_over_data_mib']:.0f}) | {row['predict_seconds']:.4f} | {speed} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nudgenet.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: proves the benchmark runs"
    )
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up")
    parser.add_argument("--rounds", type=int, default=2, help="worker runs per implementation")
    parser.add_argument("--samples", type=int, default=60000, help="rows for A and B")
    parser.add_argument("--c-samples", type=int, default=10000, help="rows for C")
    parser.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--impl", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        impl, arch, batch, samples, epochs = args.worker
        print(json.dumps(worker(impl, arch, int(batch), int(samples), int(epochs))))
        return 0
    report = benchmark(args)
    print(format_table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
