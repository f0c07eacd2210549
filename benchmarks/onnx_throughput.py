"""Inference throughput of the MNIST network (784-16-16-10) exported to ONNX: onnxruntime against
``ng.predict``, in rows per second, at a few batch sizes (for information).

    PYTHONPATH=src python benchmarks/onnx_throughput.py      # about 20 seconds

Random float32 rows stand in for MNIST images (the time does not depend on the values).  Each
batch size is timed by repeating the call for at least ``SECONDS`` and taking the best of
``ROUNDS`` rounds, both contestants alternating in the same process, each on one thread
(onnxruntime's ``intra_op_num_threads=1``, NumPy's BLAS limited by threadpoolctl): on a shared
machine, thread pools that spin while other processes run make the default-thread figures swing
tenfold from one run to the next.  Prints one line per batch size and the ratio.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from threadpoolctl import threadpool_limits

import nudgenet as ng

BATCHES = (1, 100, 10_000)
ROUNDS, SECONDS = 5, 0.3


def rows_per_second(call, rows: int) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        count, began = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - began) < SECONDS:
            call()
            count += 1
        best = max(best, count * rows / elapsed)
    return best


def main() -> None:
    model = ng.Sequential(
        ng.Linear(784, 16, seed=0), ng.ReLU(), ng.Linear(16, 16, seed=1), ng.ReLU(),
        ng.Linear(16, 10, seed=2),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        path = ng.export_onnx(model, Path(folder) / "mnist.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((max(BATCHES), 784), dtype=np.float32)
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}; one thread each; rows per "
          f"second, best of {ROUNDS}")  # fmt: skip
    for rows in BATCHES:
        batch = x[:rows]
        runtime = rows_per_second(lambda b=batch: session.run(None, {"input": b}), rows)
        with threadpool_limits(1):
            numpy = rows_per_second(lambda b=batch: ng.predict(model, b), rows)
        print(f"batch {rows:>6}: onnxruntime {runtime:>12,.0f}  ng.predict {numpy:>12,.0f}  "
              f"ratio {runtime / numpy:5.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
