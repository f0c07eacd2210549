"""fit's progress on a real terminal of a given width (a pseudo-terminal), and its one line per
epoch elsewhere: every metric shown in full, nothing cut at 80 columns."""

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng

REPO = Path(__file__).resolve().parents[1]

TRAIN = """
import json, numpy as np, nudgenet as ng
rng = np.random.default_rng(0)
x = rng.normal(size=(400, 3)).astype(np.float32)
if "{task}" == "classification":
    y, loss_fn, metrics, units = x[:, 0] > 0, ng.CrossEntropyLoss(), ["accuracy"], 2
else:
    y, loss_fn, metrics, units = x[:, :1] * 3, ng.MSELoss(), ["rmse", "mae"], 1
model = ng.Sequential(ng.Linear(3, 8, seed=0), ng.ReLU(), ng.Linear(8, units, seed=1))
history = ng.fit(model, loss_fn, ng.optim.SGD(model.parameters(), lr=0.05), x, y, epochs=2,
                 batch_size=16, validation_split=0.25, metrics=metrics, seed=0)
print(json.dumps(history.history))
"""


def screen(raw: bytes) -> list[str]:
    """What a terminal shows after ``raw``: each line as its last carriage return left it."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode("utf-8", "replace"))
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    return [line for line in lines if line]


def train_on_a_terminal(columns: int, task: str) -> tuple[list[str], dict]:
    """Run a short fit with stderr on a pseudo-terminal ``columns`` wide; the screen's lines and
    the History."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    env.pop("COLUMNS", None)
    process = subprocess.Popen(
        [sys.executable, "-c", TRAIN.format(task=task)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, raw.decode(errors="replace")
    return screen(raw), json.loads(out)


def shown(history: dict, epoch: int) -> list[str]:
    """Every metric of the epoch as the progress shows it, name and value (4 digits)."""
    return [f"{k}: {v[epoch]:.4g}" for k, v in history.items() if k not in ("lr", "seconds")]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux pseudo-terminal")
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_metric_fits_in_full_on_an_80_column_terminal(task):
    lines, history = train_on_a_terminal(80, task)
    assert all(len(line) <= 80 for line in lines), lines
    assert sum(line.startswith("Epoch ") for line in lines) == 2  # a bar per epoch, kept
    assert "val_loss" in history and (
        "val_accuracy" in history if task == "classification" else "val_mae" in history
    )
    if task == "regression":  # six metrics: the validation ones on a line of their own
        assert sum(line.startswith("  val_loss: ") for line in lines) == 2, lines
    text = "\n".join(lines)
    for epoch in (0, 1):
        for item in shown(history, epoch):  # e.g. "val_accuracy: 0.9", never "val_accu"
            assert item in text, (item, lines)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux pseudo-terminal")
def test_a_wide_terminal_keeps_each_epoch_on_one_line():
    lines, history = train_on_a_terminal(200, "classification")
    assert len(lines) == 2 and all(line.startswith("Epoch ") for line in lines), lines
    for epoch, line in enumerate(lines):
        assert line.endswith(" - ".join(shown(history, epoch)) + "]")


def test_wrapping_breaks_between_metrics_only():
    from nudgenet.progress import wrap_items

    items = ["loss: 1.235", "accuracy: 0.9512", "val_loss: 1.346", "val_accuracy: 0.9012"]
    assert wrap_items(items, 200) == [" - ".join(items)]
    assert wrap_items(items, 35) == [
        "loss: 1.235 - accuracy: 0.9512",
        "val_loss: 1.346",
        "val_accuracy: 0.9012",
    ]
    assert wrap_items(items, 5) == items  # too narrow: one metric a line, never cut


def test_the_line_per_epoch_keeps_its_parseable_format(capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = ng.Sequential(ng.Linear(2, 2, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=2,
                     validation_split=0.2, metrics=["accuracy"], verbose=2, seed=0)  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    pattern = re.compile(r"^Epoch (\d+)/2 - [0-9.]+m?s - (.*)$")
    for epoch, line in enumerate(lines):
        match = pattern.match(line)
        assert match and int(match[1]) == epoch + 1, line
        fields = dict(item.split(": ") for item in match[2].split(" - "))
        assert list(fields) == ["loss", "accuracy", "val_loss", "val_accuracy"]
        for name, value in fields.items():
            assert float(value) == pytest.approx(history[name][epoch], rel=1e-3)


def test_an_epoch_shorter_than_a_second_shows_its_milliseconds():
    from nudgenet.progress import duration

    assert [duration(s) for s in (0.0042, 0.25, 1.0, 12.345)] == ["4ms", "250ms", "1.00s", "12.35s"]
