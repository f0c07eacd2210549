"""Run under ``mpiexec -n 2``: ``nudgenet train`` on a user's file, each rank writing, as its run
ends (just before the machine's shared copy of the data set is freed), what memory it holds.

``python shared_data.py DATA OUT [no-room]``: rank r writes ``OUT/rank-<r>.json``, the bytes of
the shared copy (``shared``) and the fields of ``/proc/self/smaps_rollup`` in bytes; the model
goes to ``OUT/m.safetensors``; rank 0 prints the run's JSON result.  ``no-room``: ``/dev/shm`` is
said to have no room (for the data set, and for the step's parameters and gradients).
"""

import json
import sys
from pathlib import Path

from mpi4py import MPI

from nudgenet.cli import main
from nudgenet.distributed import node, shared_arrays
from nudgenet.distributed.shared_arrays import SharedArrays

data, out = sys.argv[1:3]
if sys.argv[3:] == ["no-room"]:
    shared_arrays.shared_memory_free = node.shared_memory_free = lambda: 0
free = SharedArrays.free


def report_then_free(self):
    fields = {"shared": sum(array.nbytes for array in self.arrays.values())}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":")
        fields[key] = int(value.split()[0]) * 1024
    Path(out, f"rank-{MPI.COMM_WORLD.rank}.json").write_text(json.dumps(fields))
    free(self)


SharedArrays.free = report_then_free
sys.exit(main(["train", "--dataset", data, "--epochs", "1", "--layers", "8", "--json",
               "-o", f"{out}/m.safetensors"]))  # fmt: skip
