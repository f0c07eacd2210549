"""Run under ``mpiexec -n 2``: ``fit(distributed=DataParallel(comm))`` with a communicator made
by hand runs as ``distributed=True`` does, written as JSON by rank 0.

``python by_hand.py OUT.json WORKDIR``: the same fit with ``distributed=True`` and with
``DataParallel(comm)`` (progress printed, a checkpoint saved); what each rank may write during
it, ``last_run()``, and whether each rank's parameters are its own again afterwards.
"""

import json
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

import nudgenet as ng
from nudgenet import files

out_path, workdir = Path(sys.argv[1]), Path(sys.argv[2])
comm = MPI.COMM_WORLD.Dup()  # a communicator of the script's own
rng = np.random.default_rng(0)
x, y = rng.normal(size=(200, 8)), rng.integers(0, 2, 200)
seen_may_write = []


class Watch(ng.Callback):
    writes_parameters = False  # reads only: the machine's ranks share one copy during fit

    def on_epoch_end(self, epoch, logs=None):
        seen_may_write.append(files.may_write())


def trained(distributed, folder=None):
    model = ng.Sequential(ng.Linear(8, 16, seed=0), ng.ReLU(), ng.Linear(16, 2, seed=1))
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.Adam(model.parameters(), lr=0.01), x, y,
           epochs=2, batch_size=32, seed=0, verbose=2, distributed=distributed,
           callbacks=[Watch()], checkpoint=folder and ng.Checkpoint(folder))  # fmt: skip
    return model


plain = trained(True)
model = trained(ng.distributed.DataParallel(comm), workdir / "checkpoints")
weights = model[0].weight.data
same = bool(np.array_equal(weights, plain[0].weight.data))
comm.Barrier()
if comm.rank == 0:
    weights[...] = 0.0  # rank 0 alone changes its model
comm.Barrier()
results = {
    "same_as_distributed_true": comm.allgather(same),
    "rank_1_unchanged": comm.allgather(bool(np.abs(weights).sum() > 0))[1],
    "may_write": comm.allgather(seen_may_write[2:]),  # the hand-made run's epochs
    "last_run": ng.distributed.last_run(),
    "files": sorted(p.name for p in (workdir / "checkpoints").iterdir()),
}
if comm.rank == 0:
    out_path.write_text(json.dumps(results, indent=1))
