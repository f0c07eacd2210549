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


def test_a_run_killed_at_random_moments_writes_the_model_of_a_run_never_killed(tmp_path):
    began = time.perf_counter()
    finish(start("-o", "reference.safetensors", cwd=tmp_path))
    whole = time.perf_counter() - began
    reference = (tmp_path / "reference.safetensors").read_bytes()
    metadata = ng.io.read_metadata(tmp_path / "reference.safetensors")
    assert not [key for key in metadata if "time" in key or "date" in key or "second" in key]
    chance = random.Random(12)
    killed = 0
    for _ in range(KILLS):  # each at a random moment of the first three quarters of a run's time
        process = start("-o", "killed.safetensors", "--checkpoint", "ckpt", cwd=tmp_path)
        try:
            process.wait(timeout=chance.uniform(0.2, 0.75 * whole))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.communicate()
            killed += 1
        else:
            process.communicate()
    # most moments fall within a run (drawn over a whole run's time, about 1 test in 12 killed
    # only 2 of 6 under load); a resumed run has less left to do and may finish first
    # (time-based, so the count varies with the machine's load: the bytes below must not)
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} runs were killed"
    assert len(list((tmp_path / "ckpt").glob("checkpoint-*.safetensors"))) >= 1
    err = finish(start("-o", "killed.safetensors", "--checkpoint", "ckpt", cwd=tmp_path))
    assert "fit: resuming from " not in err  # -q: quiet
    assert (tmp_path / "killed.safetensors").read_bytes() == reference
