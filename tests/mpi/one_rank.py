"""Run under ``mpiexec -n 1``: a fit that raises in a world of one rank gives the error to the
caller (nothing waits for the rank) and the parameters back to the rank's own memory, written
as JSON.

``python one_rank.py OUT.json``: a callback failing inside ``fit(distributed=DataParallel)``;
the same DataParallel given to a fit started inside its own fit (refused); a fit after both;
a failing callback while giving the memory back fails too (the caller gets the callback's error).
"""

import json
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

import nudgenet as ng
from nudgenet.distributed.node import NodeReduction

x, y = np.random.default_rng(0).normal(size=(64, 4)), np.arange(64) % 2
parallel = ng.distributed.DataParallel(MPI.COMM_WORLD)


def own_memory(optimizer) -> bool:
    """Whether the optimiser's flat buffer lies in memory NumPy made (not MPI's window)."""
    base = optimizer.flat_params
    while getattr(base, "base", None) is not None:
        base = base.base
    return isinstance(base, np.ndarray)


def mlp():
    model = ng.Sequential(ng.Linear(4, 2, seed=0))
    return model, ng.optim.SGD(model.parameters(), lr=0.1)


class Run(ng.Callback):
    writes_parameters = False  # reads only: the machine's ranks share one copy during fit

    def __init__(self, action):
        self.action = action

    def on_epoch_end(self, epoch, logs=None):
        self.action()


def fit(model, optimizer, action=None):
    return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=2, seed=0, verbose=0,
                  distributed=parallel, callbacks=[Run(action or (lambda: None))])  # fmt: skip


def raise_bug():
    raise ValueError("a bug in my callback")


results = {}
for case, action in {
    "callback error": raise_bug,
    "nested fit": lambda: fit(*mlp()),
}.items():
    model, optimizer = mlp()
    try:
        fit(model, optimizer, action)
        results[case] = {"error": None}
    except Exception as error:  # noqa: BLE001 (what reached the caller is the result)
        results[case] = {"error": f"{type(error).__name__}: {error}"}
    results[case].update(own_memory=own_memory(optimizer), fitting=parallel.fitting)
model, optimizer = mlp()
results["after"] = {"epochs": len(fit(model, optimizer)), "own_memory": own_memory(optimizer)}
release = NodeReduction.release
NodeReduction.release = lambda self: 1 / 0  # giving the memory back fails too
try:
    fit(*mlp(), raise_bug)
except Exception as error:  # noqa: BLE001
    results["release fails"] = f"{type(error).__name__}: {error}"  # the fit's own error
NodeReduction.release = release
Path(sys.argv[1]).write_text(json.dumps(results, indent=1))
