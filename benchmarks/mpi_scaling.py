"""Strong scaling of data-parallel ``fit`` over MPI on this machine, in one run.

    PYTHONPATH=src python benchmarks/mpi_scaling.py            # about 4 minutes on 2 cores
    PYTHONPATH=src python benchmarks/mpi_scaling.py --quick    # seconds: proves it runs

For the benchmark's networks B (784-128-64-10) and C (784-1024-1024-10), softmax cross-entropy,
SGD, global batch 256, random float32 rows (:mod:`nudgenet.bench.implementations`): samples per
second of ``fit`` for 1 process at 1 BLAS thread, 2 ranks (``mpiexec -n 2``, ``distributed=True``)
at 1 thread each, 1 process at 2 threads, and two independent 1-process runs at once (the
machine's ceiling for two busy processes), interleaved over ``--repeats`` rounds (after a
first round, discarded: on a virtual machine a core idle until then starts slow); the
speedups over the first (the median over the rounds of each round's ratio); per step the seconds
in the gradients' reduction (through the node's shared memory, or ``Allreduce``: waiting for the
other rank included) and the bytes of the buffer it sums (:func:`nudgenet.distributed.last_run`).
Just before and after the 2 ranks of each round, the cost of overwriting 512 KiB the other CPU
has just read (:func:`nudgenet.bench.cores.cross_core_write`): on a virtual machine the two
CPUs are sometimes host cores sharing a cache and sometimes not, which coupled ranks pay at
every step; the 2 ranks' median speedup over the rounds whose CPUs shared a cache throughout is
printed too.
Then
the cost model's inputs: the ``Allreduce`` time of 2 ranks from 8 bytes to 32 MiB, fitted as
``t = α + bytes / β`` (latency α, bandwidth β); and the memory per process after one epoch of B
on a memory-mapped ``.npz`` file (:func:`nudgenet.datasets.memmap_arrays`), 1 process against
each of 2 ranks: peak RSS, the file's pages and private pages in it, and PSS (pages shared by the
ranks, such as the file's, counted once in all).  Every configuration runs in its own
processes; the median of the timed epochs (after one warm-up epoch) is reported.
``--json PATH`` writes it all.  docs/performance.md explains the numbers and the model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from nudgenet.bench.arguments import output_file, positive_int
from nudgenet.bench.cores import around, described

HERE = Path(__file__).resolve()
ARCHITECTURES = {"A": (784, 16, 16, 10), "B": (784, 128, 64, 10), "C": (784, 1024, 1024, 10)}
# two unrelated 1-thread processes at once, each at the full batch: the most 2 ranks could do
# on this machine at that moment (what the cores give two busy processes together)
INDEPENDENT = "2 independent processes"
RANKS = "2 ranks, 1 thread each"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def mpiexec() -> str:
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else "mpiexec"


def spawn(ranks: int, threads: int, *args: str, copies: int = 1) -> dict:
    """This script with ``args`` in ``ranks`` processes (under mpiexec when more than one) at
    ``threads`` BLAS threads each; the JSON its rank 0 printed last.  With ``copies``, that many
    independent runs at once, their samples per second added up."""
    env = {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    command = [sys.executable, str(HERE), *args]
    if ranks > 1:
        command = [mpiexec(), "-n", str(ranks), *command]
    pipe = subprocess.PIPE
    runs = [
        subprocess.Popen(command, stdout=pipe, stderr=pipe, text=True, env=env)
        for _ in range(copies)
    ]
    found = []
    for run in runs:
        out, err = run.communicate()
        if run.returncode:
            raise SystemExit(f"{' '.join(command)} failed: {err.strip()[-2000:]}")
        found.append(json.loads(out.strip().splitlines()[-1]))
    if copies == 1:
        return found[0]
    return {**found[0], "samples_per_second": sum(f["samples_per_second"] for f in found)}


def memory_mib() -> dict:
    """This process's peak RSS (VmHWM: ru_maxrss would count the parent's pages from before
    exec), and now its file-backed and private RSS and its PSS (shared pages divided among the
    processes mapping them), in MiB; ru_maxrss alone where /proc is missing."""
    try:
        status = Path("/proc/self/status").read_text().splitlines()
        rollup = Path("/proc/self/smaps_rollup").read_text().splitlines()
    except OSError:
        return {"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    fields = {
        line.split(":")[0]: int(line.split()[1]) / 1024 for line in status + rollup if "kB" in line
    }
    return {"peak_rss": fields["VmHWM"], "file_rss": fields["RssFile"],
            "private_rss": fields["RssAnon"], "pss": fields["Pss"]}  # fmt: skip


def train_worker(arch: str, samples: int, epochs: int, distributed: bool, data: str | None):
    """One configuration (in this process, one rank of it under mpiexec): its JSON on rank 0."""
    import nudgenet as ng
    from nudgenet.bench.implementations import make_data

    sizes = ARCHITECTURES[arch]
    if data:
        x, y = ng.datasets.memmap_arrays(data)
    else:
        x, y = make_data(samples, sizes[0], sizes[-1])
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [ng.Linear(a, b, seed=i), ng.ReLU()]
    model = ng.Sequential(*layers[:-1])
    optimizer = ng.optim.SGD(model.parameters(), lr=0.05)
    history = ng.fit(
        model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=epochs, batch_size=256, seed=0,
        verbose=0, distributed=distributed,
    )  # fmt: skip
    seconds = statistics.median(history["seconds"][1:] or history["seconds"])
    steps = -(-len(x) // 256)
    found = {"samples_per_second": len(x) / seconds, "epoch_seconds": seconds}
    rss = [memory_mib()]
    if distributed:
        cost = ng.distributed.last_run()
        found.update(
            allreduce_ms_per_step=1e3 * cost["allreduce_seconds"] / cost["allreduce_calls"],
            bytes_per_step=cost["allreduce_bytes"],
            step_ms=1e3 * seconds / steps,
        )
        from mpi4py import MPI

        rss = MPI.COMM_WORLD.gather(rss[0])
        if MPI.COMM_WORLD.rank:
            return
    found["memory_mib"] = rss
    print(json.dumps(found))


def ping_worker(largest: int) -> None:
    """The median time of ``Allreduce`` (in place, SUM, float32) from 8 bytes to ``largest``."""
    from mpi4py import MPI

    comm, rows = MPI.COMM_WORLD, []
    size = 8
    while size <= largest:
        buffer = np.ones(size // 4, np.float32)
        times = []
        for _ in range(max(5, min(200, (1 << 24) // size))):
            comm.Barrier()
            began = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            times.append(time.perf_counter() - began)
        rows.append((size, statistics.median(times)))
        size *= 4
    if comm.rank == 0:
        sizes, seconds = np.array(rows, dtype=np.float64).T
        slope, alpha = np.polyfit(sizes, seconds, 1, w=1 / seconds)  # t = α + bytes / β, relative
        print(json.dumps({"latency_us": 1e6 * max(alpha, 0.0), "bandwidth_gbs": 1e-9 / slope,
                          "points": [[int(b), 1e6 * t] for b, t in rows]}))  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves it runs")
    parser.add_argument("--json", type=output_file, metavar="PATH",
                        help="also write the results as JSON")  # fmt: skip
    parser.add_argument("--repeats", type=positive_int, metavar="R",
                        help="rounds of the scaling configurations, interleaved, after one "
                        "discarded (default 5; 1 with --quick)")  # fmt: skip
    parts = ("scaling", "allreduce", "memory", "model")
    parser.add_argument("--only", nargs="+", choices=parts, default=parts, help="run these parts")
    parser.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        if args.worker[0] == "ping":
            ping_worker(int(args.worker[1]))
        else:
            arch, samples, epochs, distributed, data = args.worker
            train_worker(arch, int(samples), int(epochs), distributed == "1", data or None)
        return 0
    samples = {"B": 2048, "C": 512} if args.quick else {"B": 40000, "C": 4000}
    if "model" in args.only:  # A's compute per sample, for the model (not itself scaled)
        samples = {"A": 2048 if args.quick else 60000, **samples}
    epochs = "2" if args.quick else "8"
    report: dict = {"scaling": {}, "machine": os.cpu_count()}
    if "scaling" in args.only:
        print("arch  configuration          samples/s  speedup     reduce ms/step  bytes/step")
    timed = {"scaling", "model"} & set(args.only)
    repeats = args.repeats or (1 if args.quick else 5)
    for arch, n in samples.items() if timed else ():
        worker = ("--worker", arch, str(n), epochs)
        configurations = {"1 process, 1 thread": (1, 1, "0", 1)}
        if arch != "A" and "scaling" in args.only:  # (the model needs only the first)
            configurations |= {RANKS: (2, 1, "1", 1),
                               "1 process, 2 threads": (1, 2, "0", 1),
                               INDEPENDENT: (1, 1, "0", 2)}  # fmt: skip
        rounds = [one_round(configurations, worker) for _ in range(repeats + (not args.quick))]
        rounds = rounds[(not args.quick):]  # fmt: skip  (the first wakes the idle core: discarded)
        rows = report["scaling"][arch] = median_rows(rounds)
        if len(rows) == 1:
            continue
        for name, row in rows.items():
            reduce = f"{row['allreduce_ms_per_step']:.3f}" if "bytes_per_step" in row else "-"
            moved = row.get("bytes_per_step", "-")
            print(f"{arch:<5} {name:<22} {row['samples_per_second']:>9.0f} "
                  f"{row['speedup']:>7.2f}x {reduce:>18} {moved:>11}")  # fmt: skip
        two = rows[RANKS]
        for i, (ratio, probes) in enumerate(zip(two["speedups"], two["cross_core"])):
            print(f"{arch:<5} round {i + 1}: 2 ranks {ratio:.2f}x; overwriting 512 KiB the other "
                  f"CPU read, before and after: {described(probes)}")  # fmt: skip
        near, count = two["speedup_sharing_a_cache"], two["rounds_sharing_a_cache"]
        print(f"{arch:<5} 2 ranks on near CPUs (sharing a cache, before and after): {count} "
              f"round(s)" + (f", {near:.2f}x" if near else ""))  # fmt: skip
    if "allreduce" in args.only or "model" in args.only:
        largest = 1 << (20 if args.quick else 25)
        ping = report["allreduce"] = spawn(2, 1, "--worker", "ping", str(largest))
        print(f"Allreduce of 2 ranks: latency {ping['latency_us']:.1f} us, "
              f"bandwidth {ping['bandwidth_gbs']:.2f} GB/s")  # fmt: skip
    if "model" in args.only:
        report["model"] = cost_model(report)
    if "memory" in args.only:
        report["memory"] = memory(args.quick)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def one_round(configurations: dict, worker: tuple) -> dict:
    """Each configuration once, in order; the 2 ranks' with the CPUs' cross-core write cost
    just before and just after them (``cross_core``: :func:`nudgenet.bench.cores.around`), since
    where the hypervisor puts the two CPUs changes from one minute to the next
    (docs/performance.md)."""
    found = {}
    for name, (ranks, threads, distributed, copies) in configurations.items():
        run = partial(spawn, ranks, threads, *worker, distributed, "", copies=copies)
        if ranks > 1:
            found[name], probes = around(run)
            found[name]["cross_core"] = probes
        else:
            found[name] = run()
    return found


def median_rows(rounds: list[dict]) -> dict:
    """Per configuration, the round of median samples/s, with ``speedup``: the median over the
    rounds of its samples/s over the same round's 1 process at 1 thread (configurations run
    interleaved, so a slow spell of the machine slows both sides of a ratio), and every
    round's ``speedups``."""
    rows = {}
    for name in rounds[0]:
        runs = sorted((r[name] for r in rounds), key=lambda row: row["samples_per_second"])
        ratios = [r[name]["samples_per_second"] / r["1 process, 1 thread"]["samples_per_second"]
                  for r in rounds]  # fmt: skip
        rows[name] = {**runs[len(runs) // 2], "speedup": statistics.median(ratios),
                      "speedups": ratios}  # fmt: skip
        if "cross_core" in rounds[0][name]:  # every round's probes; the rounds on near CPUs
            probes = [r[name]["cross_core"] for r in rounds]
            near = [ratio for ratio, p in zip(ratios, probes) if p and p["share_a_cache"]]
            median = statistics.median(near) if near else None
            rows[name].update(cross_core=probes, rounds_sharing_a_cache=len(near),
                              speedup_sharing_a_cache=median)  # fmt: skip
    return rows


def allreduce_seconds(ranks: int, size: int, latency: float, bandwidth: float) -> float:
    """MPICH's Allreduce of ``size`` bytes on ``ranks``: 2⌈log₂ N⌉ latencies (recursive halving
    and doubling) and 2(N − 1)/N of the buffer through each rank's link (Rabenseifner)."""
    return 2 * np.ceil(np.log2(ranks)) * latency + 2 * (ranks - 1) / ranks * size / bandwidth


def cost_model(report: dict) -> dict:
    """Step time T(N) = c·B/N + allreduce(4·(P + 1) bytes, N) for A, B, C from this run's
    measured c (seconds per sample, 1 process at 1 thread) and Allreduce latency and bandwidth:
    the speedup at global batch 256 for 2, 8 and 64 ranks, the most ranks (a power of 2) still
    at 50 % efficiency there (where scaling stops: more ranks wait longer than they compute),
    and the global batch keeping the efficiency c·B/N / T(N) at 80 % for 8 and 64 ranks:
    B ≥ 4·N·allreduce/c."""
    from nudgenet.bench.implementations import parameter_count

    ping = report["allreduce"]
    latency, bandwidth = ping["latency_us"] * 1e-6, ping["bandwidth_gbs"] * 1e9
    found = {}
    print(f"model: latency {latency * 1e6:.1f} us, bandwidth {bandwidth / 1e9:.2f} GB/s")
    heading = "arch  c (us/sample)  bytes/step  speedup at B=256: N=2, 8, 64  50% until N"
    print(f"{heading}  B for 80% at N=8, 64")
    for arch, rows in report["scaling"].items():
        c = 1 / rows["1 process, 1 thread"]["samples_per_second"]
        size = 4 * (parameter_count(ARCHITECTURES[arch]) + 1)
        ranks = [2**k for k in range(1, 11)]
        reduce = {n: allreduce_seconds(n, size, latency, bandwidth) for n in ranks}
        speedup = {n: c * 256 / (c * 256 / n + reduce[n]) for n in ranks}
        half = max([1] + [n for n in ranks if speedup[n] >= n / 2])
        batch = {n: 4 * n * reduce[n] / c for n in (8, 64)}
        found[arch] = {"c_us": c * 1e6, "bytes": size, "speedup_256": speedup,
                       "half_efficiency_ranks": half, "batch_for_80_percent": batch}  # fmt: skip
        print(f"{arch:<5} {c * 1e6:>13.2f} {size:>11} {speedup[2]:>10.2f} {speedup[8]:>5.2f} "
              f"{speedup[64]:>5.2f} {half:>12} {batch[8]:>9.0f} {batch[64]:>7.0f}")  # fmt: skip
    return found


def memory(quick: bool) -> dict:
    """Memory per process after an epoch of B on a memory-mapped file: 1 process, 2 ranks."""
    with tempfile.TemporaryDirectory() as folder:
        import nudgenet as ng
        from nudgenet.bench.implementations import make_data

        rows = 4096 if quick else 60000
        x, y = make_data(rows)
        path = Path(folder) / "data.npz"
        ng.datasets.save_arrays(path, x=x, y=y)
        del x, y
        found = {
            "data_mib": path.stat().st_size / 2**20,
            "1 process": spawn(1, 1, "--worker", "B", "0", "1", "0", str(path))["memory_mib"],
            "2 ranks": spawn(2, 1, "--worker", "B", "0", "1", "1", str(path))["memory_mib"],
        }
    print(f"memory (MiB) after an epoch of B on a memory-mapped {found['data_mib']:.0f} MiB file:")
    for name, ranks in (("1 process", found["1 process"]), ("2 ranks", found["2 ranks"])):
        for rank, m in enumerate(ranks):
            print(f"  {name}, rank {rank}: " + ", ".join(f"{k} {v:.0f}" for k, v in m.items()))
    return found


if __name__ == "__main__":
    sys.exit(main())
