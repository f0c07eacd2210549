"""Run under ``mpiexec -n N``: errors that every rank's ``fit`` / ``evaluate(distributed=True)``
raises alike in its argument checks, before any collective, reach the script, which catches them
as it would run alone; a data-parallel fit and evaluate then run as usual.

``python caught.py OUT``: each rank writes what it caught, one line a case, to ``OUT.RANK``.
"""

import re
import sys

import numpy as np

import nudgenet as ng

rank = ng.distributed.rank()
rng = np.random.default_rng(0)
x = rng.normal(size=(100, 4)).astype(np.float32)
y = (x[:, 0] > 0).astype(int)


def model_of(*middle):
    return ng.Sequential(ng.Linear(4, 8, seed=0), *middle, ng.ReLU(), ng.Linear(8, 2, seed=1))


def my_accuracy(outputs, targets):
    return 0.0


def fit(model, **options):
    keywords = {"epochs": 1, "batch_size": 32, "seed": 0, "verbose": 0, **options}
    return ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
                  distributed=True, **keywords)  # fmt: skip


cases = {
    "batch_size=0": lambda: fit(model_of(), batch_size=0),  # a sweep's bad setting
    "drop_last": lambda: fit(model_of(), batch_size=128, drop_last=True),
    "seed=None": lambda: fit(model_of(), seed=None),
    "BatchNorm1d": lambda: fit(model_of(ng.BatchNorm1d(8))),
    "metrics=[function]": lambda: fit(model_of(), metrics=[my_accuracy]),  # its repr's address
    "evaluate rows": lambda: ng.evaluate(model_of(), ng.CrossEntropyLoss(), x, y[:-1],
                                         distributed=True),  # fmt: skip
    "evaluate batch_size=0": lambda: ng.evaluate(model_of(), ng.CrossEntropyLoss(), x, y,
                                                 batch_size=0, distributed=True),  # fmt: skip
}
lines = []
for name, call in cases.items():
    try:
        call()
        lines.append(f"{name}: no error")
    except (ValueError, ng.distributed.DistributedError) as error:
        said = re.sub(" at 0x[0-9a-f]+", " at 0x...", str(error))  # another on every rank
        lines.append(f"{name}: caught {type(error).__name__}: {said}")
model = model_of()
history = fit(model, epochs=2)
scores = ng.evaluate(model, ng.CrossEntropyLoss(), x, y, distributed=True)
lines.append(f"then trained {len(history.epoch)} epochs, loss {scores['loss']:.6f}")
with open(f"{sys.argv[1]}.{rank}", "w") as out:
    out.write("\n".join(lines) + "\n")
