"""Two ranks given other data, resuming a folder's checkpoint with restart=True: the ranks are
compared before rank 0 touches the folder, so the refused run deletes none of its checkpoints
(rank 0 deleted them first, then the comparison refused the run).  argv: the folder, then
"same" (a first run, both ranks alike) or "other" (rank 1's data differs)."""

import sys

import numpy as np
from mpi4py import MPI

import nudgenet as ng

folder, case = sys.argv[1], sys.argv[2]
rank = MPI.COMM_WORLD.Get_rank()
x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
y = x[:, :1] - x[:, 1:]
if case == "other" and rank == 1:
    x = x + 1
model = ng.Sequential(ng.Linear(2, 4, seed=0), ng.Linear(4, 1, seed=1))
ng.fit(model, ng.MSELoss(), ng.optim.SGD(model.parameters(), lr=0.05), x, y, epochs=2, seed=0,
       verbose=0, distributed=True,
       checkpoint=ng.Checkpoint(folder, restart=case == "other"))  # fmt: skip
