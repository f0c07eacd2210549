"""Run under ``mpiexec -n 2``: ``nudgenet train --dataset mnist`` with MNIST's files nowhere, so
they are downloaded, from a fake mirror (``download._fetch`` replaced: no network here).

``python download.py SERVER LOGS OUT [shared|separate]``: ``SERVER`` holds the four ``.gz``
files (small fakes, whose sizes and digests replace the official ones), served at every mirror;
each rank appends the URLs it fetched to ``LOGS/rank-<r>.log``; the model goes to ``OUT``.  The
test's environment names the cache (``XDG_CACHE_HOME``).  With ``shared`` or ``separate`` each
rank is told it is a machine of its own (MPI's ``Split_type`` replaced), the machines sharing
the one cache or each with a cache of its own (``XDG_CACHE_HOME/machine-<r>``).
"""

import hashlib
import os
import sys
import time
from pathlib import Path

from mpi4py import MPI

from nudgenet.cli import main
from nudgenet.data import download, handwritten

server, logs, out = (Path(a) for a in sys.argv[1:4])
machines = sys.argv[4] if len(sys.argv) > 4 else None
rank = MPI.COMM_WORLD.rank
if machines:
    import nudgenet.cli.mpi as cli_mpi

    class OneRankAMachine:
        """MPI's world, each rank a machine of its own."""

        def __getattr__(self, name):
            return getattr(MPI.COMM_WORLD, name)

        def Split_type(self, kind, key=0):
            return MPI.COMM_WORLD.Split(rank, 0)

    cli_mpi.world = lambda what: OneRankAMachine()
if machines == "separate":
    os.environ["XDG_CACHE_HOME"] = f"{os.environ['XDG_CACHE_HOME']}/machine-{rank}"
for path in server.iterdir():
    body = path.read_bytes()
    digests = hashlib.md5(body).hexdigest(), hashlib.sha256(body).hexdigest()
    handwritten._MNIST_FILES[path.name] = download.RemoteFile(path.name, len(body), *digests)


def fetch(url: str) -> bytes:
    time.sleep(0.2)  # a slow network: another rank starting meanwhile would fetch too
    with open(logs / f"rank-{rank}.log", "a") as log:
        log.write(url + "\n")
    return (server / url.rsplit("/", 1)[1]).read_bytes()


download._fetch = fetch
empty = logs / "no-mnist-here"
sys.exit(main(["train", "--dataset", "mnist", "--data-dir", str(empty), "--epochs", "1",
               "--layers", "8", "-o", str(out), "-q"]))  # fmt: skip
