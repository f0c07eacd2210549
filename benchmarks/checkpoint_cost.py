"""What checkpointing every epoch adds to an epoch of A (784-16-16-10) at batch 100 on 60,000 rows.

    PYTHONPATH=src python benchmarks/checkpoint_cost.py      # about 30 seconds

Random float32 rows stand in for MNIST's 60,000 (the time of an epoch does not depend on the
values).  Trains 7 epochs with and without ``checkpoint=ng.Checkpoint(dir)``, alternating, three
times each, and times every ``Checkpoint.save`` (capture, encode, write, fsync, rename); prints
the median epoch (the History's ``seconds``, which the write after the epoch does not include)
and the median write as a share of it.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import numpy as np

import nudgenet as ng
from nudgenet.checkpoint import Checkpoint

SAVES: list[float] = []


class TimedCheckpoint(Checkpoint):
    def save(self, *args):
        began = time.perf_counter()
        path = super().save(*args)
        SAVES.append(time.perf_counter() - began)
        return path


def epoch_seconds(x, y, checkpoint) -> float:
    model = ng.Sequential(
        ng.Linear(784, 16, seed=0), ng.ReLU(), ng.Linear(16, 16, seed=1), ng.ReLU(),
        ng.Linear(16, 10, seed=2),
    )  # fmt: skip
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = ng.fit(
        model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=7, batch_size=100, seed=0,
        verbose=0, checkpoint=checkpoint,
    )  # fmt: skip
    return statistics.median(history["seconds"])


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((60_000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 60_000)
    epochs = {"without": [], "with": []}
    for _ in range(3):
        epochs["without"].append(epoch_seconds(x, y, None))
        with tempfile.TemporaryDirectory() as folder:
            epochs["with"].append(epoch_seconds(x, y, TimedCheckpoint(folder)))
    epoch, save = statistics.median(epochs["without"] + epochs["with"]), statistics.median(SAVES)
    for name, values in epochs.items():
        print(f"median epoch {name} checkpoints: {', '.join(f'{v:.3f}' for v in values)} s")
    print(f"median checkpoint write {save * 1e3:.2f} ms = {100 * save / epoch:.1f}% of an epoch")


if __name__ == "__main__":
    main()
