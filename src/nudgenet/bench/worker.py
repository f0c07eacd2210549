"""One implementation on one configuration, in a process of its own, measured.

The parent runs ``python -m nudgenet.bench --worker IMPL ARCH BATCH SAMPLES EPOCHS`` and reads
the worker's JSON from the last line of its output (an ``error`` when it failed).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

from .implementations import ARCHITECTURES, MODULES, RUNNERS, make_data


def _max_rss_mib() -> float:
    """This process's peak resident memory (VmHWM on Linux: unlike ru_maxrss it does not carry
    the parent's peak across exec)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def worker(impl: str, arch: str, batch: int, samples: int, epochs: int) -> dict:
    """Run one implementation on one configuration (in its own process) and measure it."""
    if impl in MODULES:
        __import__(MODULES[impl])  # imported before the baseline memory reading
    sizes = ARCHITECTURES[arch]
    x, y = make_data(samples, sizes[0], sizes[-1])
    rss_data = _max_rss_mib()
    times, predict = RUNNERS[impl](sizes, x, y, batch, epochs + 1)
    predict()  # warm-up
    predict_times = []
    for _ in range(3):
        started = time.perf_counter()
        predict()
        predict_times.append(time.perf_counter() - started)
    return {
        "epoch_seconds": times[1:],
        "predict_seconds": statistics.median(predict_times),
        "peak_rss_mib": _max_rss_mib(),
        "peak_over_data_mib": _max_rss_mib() - rss_data,
    }


def run_worker(impl, arch, batch, samples, epochs) -> dict:
    command = [sys.executable, "-m", "nudgenet.bench", "--worker", impl, arch, str(batch)]
    command += [str(samples), str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])
