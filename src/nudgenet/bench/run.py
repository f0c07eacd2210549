"""The run: every configuration and implementation (each in a worker process), the machine's
description and ceilings, into one report."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

from .implementations import ARCHITECTURES, MODULES, parameter_count
from .machine import blas_info, copy_bandwidth, gemm_ceiling
from .report import add_ratios, merge, short
from .worker import run_worker


def configurations(args):
    """``(arch, batch, samples)`` to run."""
    if args.quick:
        runs = [("A", 100, 1000), ("A", 10, 500), ("C", 100, 200)]
    else:
        n, c = args.samples, args.c_samples
        runs = [("A", 100, n), ("A", 10, n), ("B", 100, n), ("C", 100, c)]
    return [run for run in runs if run[0] in args.arch]


def available(impls) -> tuple[list[str], list[str]]:
    """The implementations that can run here, and a note per one that cannot."""
    import importlib.util

    ok, notes = [], []
    for impl in impls:
        module = MODULES.get(impl)
        if module and importlib.util.find_spec(module) is None:
            notes.append(f"{impl}: skipped ({module} is not installed)")
        else:
            ok.append(impl)
    return ok, notes


def benchmark(args) -> dict:
    impls, notes = available(args.impl)
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "load_average_before": os.getloadavg()[0],
    }
    size, mib = (512, 16) if args.quick else (2048, 256)
    ceilings = [(gemm_ceiling(size), copy_bandwidth(mib))]
    for impl, module in MODULES.items():
        if impl in impls:
            machine[module] = __import__(module).__version__
    results = []
    epochs, rounds = (1, 1) if args.quick else (args.epochs, args.rounds)
    for arch, batch, samples in configurations(args):
        flops = 6 * parameter_count(ARCHITECTURES[arch]) * samples
        rows = {impl: {"impl": impl, "arch": arch, "batch": batch, "samples": samples}
                for impl in impls}  # fmt: skip
        runs = {impl: [] for impl in impls}
        for _ in range(rounds):  # rounds alternate the implementations: load drifts
            for impl in impls:
                runs[impl].append(run_worker(impl, arch, batch, samples, epochs))
        for impl, row in rows.items():
            row.update(merge(runs[impl]))
            if "seconds" in row:
                row["gflops"] = flops / row["seconds"] / 1e9
            results.append(row)
            print(f"  {arch} batch {batch:>3} {impl:>8}: {short(row)}", file=sys.stderr)
    # the ceilings again at the end (the machine is shared): the best of the two counts
    ceilings.append((gemm_ceiling(size), copy_bandwidth(mib)))
    machine["gemm_gflops"] = max(g for g, _ in ceilings)
    machine["copy_gbps"] = max(c for _, c in ceilings)
    machine["load_average_after"] = os.getloadavg()[0]
    for row in results:
        if "gflops" in row:
            row["fraction_of_gemm"] = row["gflops"] / machine["gemm_gflops"]
    add_ratios(results)
    return {"machine": machine, "notes": notes, "results": results}
