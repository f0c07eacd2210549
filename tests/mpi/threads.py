"""Run under ``mpiexec -n 2``: the BLAS threads each rank runs ``fit(distributed=True)`` on,
written as JSON by rank 0 (``python threads.py OUT.json``), when

* ``unbound``: every rank may run on all of the machine's cores (Hydra's default);
* ``own cores``: each rank told that it may run on 2 cores of its own (``os.sched_getaffinity``
  replaced: as ``srun --cpus-per-task=2`` binds them, on a machine of 4 cores);
* ``bound``: each rank bound to one real core (``os.sched_setaffinity``), as ``-bind-to core``.
"""

import json
import os
import sys

import numpy as np
from mpi4py import MPI
from threadpoolctl import threadpool_info

import nudgenet as ng

comm = MPI.COMM_WORLD
machine = sorted(os.sched_getaffinity(0))


class Threads(ng.Callback):
    writes_parameters = False

    def on_train_begin(self, logs=None):  # outside fit's own limit for small products
        self.seen = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def threads_in_fit():
    watch = Threads()
    x = np.random.default_rng(0).normal(size=(64, 4))
    model = ng.Sequential(ng.Linear(4, 2, seed=0))
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x,
           np.arange(64) % 2, epochs=1, seed=0, verbose=0, distributed=True,
           callbacks=[watch])  # fmt: skip
    return comm.allgather(watch.seen)


before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
results = {"machine": machine, "before": before}
results["unbound"] = threads_in_fit()
real = os.sched_getaffinity
os.sched_getaffinity = lambda pid: {2 * comm.rank, 2 * comm.rank + 1}
results["own cores"] = threads_in_fit()
os.sched_getaffinity = real
os.sched_setaffinity(0, {machine[comm.rank % len(machine)]})
results["bound"] = threads_in_fit()
if comm.rank == 0:
    with open(sys.argv[1], "w") as out:
        json.dump(results, out)
