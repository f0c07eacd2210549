"""``nudgenet train --checkpoint DIR`` killed with SIGKILL at random moments, then run again
until it finishes, writes the same model file, byte for byte, as a run never killed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import nudgenet as ng

REPO = Path(__file__).resolve().parents[1]
TRAIN = ("train", "--epochs", "40", "--batch-size", "16", "-q")
KILLS = 6


def start(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "nudgenet", *TRAIN, *map(str, args)]
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def finish(process) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    return err.decode()


def saved(folder: Path) -> frozenset[str]:
    """The names of the checkpoints in ``folder`` (one per epoch and step saved)."""
    return frozenset(path.name for path in folder.glob("checkpoint-*.safetensors"))


def kill_after_progress(process, folder: Path, delay: float) -> bool:
    """SIGKILL ``process`` ``delay`` seconds after it has saved a checkpoint more, unless it
    ends first; whether it was killed.  Moments tied to its progress, not to the clock: a
    loaded machine slows the run, not the test's reasoning (kills drawn over wall-clock time
    all fell before the first checkpoint under heavy load)."""
    before, deadline = saved(folder), time.monotonic() + 120
    while saved(folder) == before and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        process.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        return True
    finally:
        process.communicate()


def test_a_run_killed_at_random_moments_writes_the_model_of_a_run_never_killed(tmp_path):
    began = time.perf_counter()
    finish(start("-o", "reference.safetensors", cwd=tmp_path))
    epoch = (time.perf_counter() - began) / 40  # about; python's start counted in
    reference = (tmp_path / "reference.safetensors").read_bytes()
    metadata = ng.io.read_metadata(tmp_path / "reference.safetensors")
    assert not [key for key in metadata if "time" in key or "date" in key or "second" in key]
    chance = random.Random(12)
    killed = 0
    for _ in range(KILLS):  # each after a new checkpoint, at a random moment of the next epoch
        process = start("-o", "killed.safetensors", "--checkpoint", "ckpt", cwd=tmp_path)
        killed += kill_after_progress(process, tmp_path / "ckpt", chance.uniform(0, epoch))
    # each round saves a checkpoint or more before its kill, so few of the 40 epochs go by
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} runs were killed"
    assert len(saved(tmp_path / "ckpt")) >= 1
    err = finish(start("-o", "killed.safetensors", "--checkpoint", "ckpt", cwd=tmp_path))
    assert "fit: resuming from " not in err  # -q: quiet
    assert (tmp_path / "killed.safetensors").read_bytes() == reference
