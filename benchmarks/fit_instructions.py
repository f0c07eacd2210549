"""A fixed amount of training, to count its instructions with callgrind (deterministic where
wall-clock time on a shared machine is not): ``fit`` of an 8-32-32-1 tanh MLP on 512 random
float32 rows, batch 32 (16 steps an epoch), SGD, for EPOCHS epochs on the engine or the
compiled step.  The difference between two run lengths is the cost of the steps alone:

    export OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0 PYTHONPATH=src   # one BLAS thread: no spinning
    python -c "import nudgenet"                                     # bytecode cached first
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python benchmarks/fit_instructions.py 2 engine              # then 10, then compiled
"""

from __future__ import annotations

import sys

import numpy as np

import nudgenet as ng

epochs, backend = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
x = rng.standard_normal((512, 8)).astype(np.float32)
y = (x[:, :1] * x[:, 1:2] + np.sin(x[:, 2:3])).astype(np.float32)
model = ng.Sequential(
    ng.Linear(8, 32, seed=0), ng.Tanh(),
    ng.Linear(32, 32, seed=1), ng.Tanh(),
    ng.Linear(32, 1, seed=2),
)  # fmt: skip
optimizer = ng.optim.SGD(model.parameters(), lr=0.01)
ng.fit(model, ng.MSELoss(), optimizer, x, y, epochs=epochs, batch_size=32, seed=0, verbose=0,
       compile=backend != "engine")  # fmt: skip
