"""Optimiser step on the whole flat buffer at once vs in cache-sized chunks (what step() does).

    PYTHONPATH=src python benchmarks/optimizer_chunks.py      # about 10 seconds

For the parameter buffers of bench's B (784-128-64-10) and C (784-1024-1024-10) models, float32,
each optimiser's update is timed both ways in the same run, alternating: ``step()`` (chunks of
``optim._CHUNK`` elements) and one ``_update`` call on the whole buffer (the unchunked formula,
building model-sized temporaries).  Prints the median of the repeats in µs per step.
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np

import nudgenet as ng
from nudgenet import optim

MODELS = {"B": (784, 128, 64, 10), "C": (784, 1024, 1024, 10)}
OPTIMIZERS = {
    "SGD momentum": lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
    "Adam": lambda p: optim.Adam(p, lr=1e-3),
    "RMSprop": lambda p: optim.RMSprop(p, lr=1e-3),
}


def _whole(opt: optim.Optimizer) -> None:
    opt.step_count += 1
    opt._update(opt.flat_params, opt.flat_grads, *opt.state.values())


def main(repeats: int = 15) -> None:
    print(f"{'model':5} {'parameters':>10} {'optimiser':13} {'whole µs':>9} {'chunked µs':>10}")
    for name, sizes in MODELS.items():
        model = ng.Sequential(*[ng.Linear(a, b, seed=0) for a, b in zip(sizes, sizes[1:])])
        for label, make in OPTIMIZERS.items():
            opt = make(model)
            opt.flat_grads[...] = np.random.default_rng(0).standard_normal(opt.flat_grads.size)
            number = max(1, 20_000_000 // opt.flat_params.size)
            times = {"whole": [], "chunked": []}
            for _ in range(repeats):  # alternate, so drifting load hits both alike
                times["whole"].append(timeit.timeit(lambda o=opt: _whole(o), number=number))
                times["chunked"].append(timeit.timeit(opt.step, number=number))
            whole, chunked = (statistics.median(times[k]) / number * 1e6 for k in times)
            print(f"{name:5} {opt.flat_params.size:>10,} {label:13} {whole:>9.0f} {chunked:>10.0f}")


if __name__ == "__main__":
    main()
