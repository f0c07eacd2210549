"""Run under ``mpiexec -n 3``: ranks 1 and 2 fit on their own communicator, both with
``batch_size=0`` (an error raised alike), uncaught; rank 0 waits in the world's barrier.  The
sub-communicator's rank 0 (world rank 1) reports it alone; the job ends."""

import numpy as np
from mpi4py import MPI

import nudgenet as ng

world = MPI.COMM_WORLD
sub = world.Split(0 if world.rank == 0 else 1, world.rank)
parallel = ng.distributed.DataParallel(sub)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype(np.float32)
y = (x.sum(1) > 0).astype(np.int64)
model = ng.Sequential(ng.Linear(4, 8, seed=0), ng.ReLU(), ng.Linear(8, 2, seed=1))
if world.rank:
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
           batch_size=0, seed=0, distributed=parallel, verbose=0)  # fmt: skip
world.Barrier()
print("finished", flush=True)
