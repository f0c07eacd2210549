"""The example scripts, run for real: each in a subprocess with ``--json``, its last stdout line
parsed and its promised result asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCRIPTS = [
    "mnist_16_16",
    "softmax_classifier",
    "sigmoid_momentum",
    "option_pricing",
    "differential_pricing",
]


def mnist_dir() -> Path | None:
    """The folder holding the MNIST 10k test files, as the MNIST example finds it, or None."""
    candidates = [os.environ.get("NUDGENET_DATA"), REPO.parent / "shared" / "data" / "mnist"]
    for folder in (Path(c) for c in candidates if c):
        for f in (folder, folder / "mnist"):
            if any(f.glob("t10k-images-idx3-ubyte*")) and any(f.glob("t10k-labels-idx1-ubyte*")):
                return f
    return None


def readme_python_block(heading: str) -> str:
    """The code of the first ```python block after ``heading`` in the README."""
    text = (REPO / "README.md").read_text()
    assert heading in text, f"the README has no {heading!r} section"
    return text.split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def run_script(name: str, *args: str, json_output: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    command = [sys.executable, str(EXAMPLES / f"{name}.py"), *args]
    if json_output:
        command.append("--json")
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False
    )
    assert done.returncode == 0, f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done


def results(name: str, *args: str) -> dict:
    """The JSON object on the last line of the script's stdout."""
    lines = run_script(name, *args).stdout.strip().splitlines()
    assert lines, f"{name} printed nothing"
    return json.loads(lines[-1])


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_names_the_common_options(name):
    usage = run_script(name, "--help", json_output=False).stdout
    for option in ("--seed", "--epochs", "--json", "--quiet"):
        assert option in usage


@pytest.mark.skipif(mnist_dir() is None, reason="the MNIST 10k files are not on this machine")
def test_mnist_16_16_reaches_92_percent_held_out():
    r = results("mnist_16_16", "--data-dir", str(mnist_dir()), "--no-download")
    assert (r["n_train"], r["n_heldout"]) in {(8000, 2000), (60000, 10000)}
    assert r["architecture"].startswith("784-16-16-10")
    assert r["batch_size"] == 100 and r["epochs"] == 20
    assert r["heldout_accuracy"] >= 0.92, r
    assert 0 < r["final_train_loss"] < 0.3
    assert r["seconds"] > 0


@pytest.mark.skipif(mnist_dir() is None, reason="the MNIST 10k files are not on this machine")
def test_readme_mnist_example_runs_and_reaches_what_it_says(tmp_path, monkeypatch):
    block = readme_python_block("## The Python API")
    assert 'data_dir="path/to/mnist"' in block and "accuracy 0.9165 after 11 epochs" in block
    code = block.replace("path/to/mnist", str(mnist_dir()))
    monkeypatch.chdir(tmp_path)  # it saves mnist.safetensors
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    model, x_val, y_val = namespace["model"], namespace["x_val"], namespace["y_val"]
    scores = ng.evaluate(model, ng.CrossEntropyLoss(), x_val, y_val, metrics=["accuracy"])
    assert scores["accuracy"] >= 0.91 and len(namespace["history"]) == 11
    assert ng.load(tmp_path / "mnist.safetensors").metadata["class_names"][9] == "9"


def test_readme_autodiff_example_runs_and_its_gradients_are_the_chain_rules():
    namespace: dict = {}
    exec(compile(readme_python_block("### Tensors and autodiff"), "README.md", "exec"), namespace)
    x, w, z = namespace["x"], namespace["w"], namespace["z"]
    assert x.dtype == np.float32 and x.grad.dtype == np.float32  # "float32 by default"
    xv, wv = x.data.astype(np.float64), w.data.astype(np.float64)
    s = 1 / (1 + np.exp(-(xv @ wv)))  # y = Σ σ(x w): ∂y/∂x = σ'(xw) wᵀ, ∂y/∂w = xᵀ σ'(xw)
    np.testing.assert_allclose(x.grad, s * (1 - s) * wv.T, rtol=1e-6)
    np.testing.assert_allclose(w.grad, xv.T * (s * (1 - s)), rtol=1e-6)
    assert not z.requires_grad and z.is_leaf  # computed under no_grad: no graph
    np.testing.assert_array_equal(z.data, 2 * x.data)


def test_readme_gradient_check_example_runs_and_passes():
    # The MNIST example's model and loss; MNIST-shaped random rows stand in for its data files.
    rng = np.random.default_rng(0)
    namespace: dict = {
        "ng": ng,
        "model": ng.Sequential(
            ng.Linear(784, 16, seed=0),
            ng.ReLU(),
            ng.Linear(16, 16, seed=1),
            ng.ReLU(),
            ng.Linear(16, 10, seed=2),
        ),
        "loss_fn": ng.CrossEntropyLoss(),
        "x_val": rng.random((8, 784), dtype=np.float32),
        "y_val": rng.integers(0, 10, 8),
    }
    block = readme_python_block("### Checking the gradients")
    assert "ng.gradcheck(" in block
    exec(compile(block, "README.md", "exec"), namespace)  # its assert and gradcheck raise if off
    assert namespace["report"].passed
    assert namespace["a64"].dtype == namespace["b64"].dtype == np.float64


def test_softmax_classifier_separates_the_spirals_and_is_reproducible():
    r = results("softmax_classifier")
    assert r["heldout_accuracy"] >= 0.9, r
    assert r["train_accuracy"] >= 0.9, r
    confusion = np.array(r["heldout_confusion"])
    assert confusion.shape == (3, 3) and confusion.sum() == r["n_heldout"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(r["heldout_accuracy"])
    # Same seed, same numbers, bit for bit (only the timing may differ).
    again = results("softmax_classifier")
    for key in ("final_train_loss", "heldout_loss", "heldout_accuracy", "heldout_confusion"):
        assert again[key] == r[key]
    assert results("softmax_classifier", "--seed", "1")["heldout_loss"] != r["heldout_loss"]


def test_sigmoid_momentum_two_updates_per_epoch_and_momentum_is_faster():
    r = results("sigmoid_momentum")
    assert r["batch_size"] == 250 and r["updates_per_epoch"] == 2
    sgd, momentum = r["sgd"], r["momentum"]
    assert sgd["momentum"] == 0.0 and momentum["momentum"] > 0
    for run in (sgd, momentum):
        assert run["epochs_to_target"] is not None, run
        assert run["updates"] == 2 * run["epochs_to_target"]
        assert run["final_loss"] <= r["target_loss"]
    assert momentum["epochs_to_target"] < sgd["epochs_to_target"]
    assert r["momentum_faster"] is True


def test_option_pricing_rmse_below_half_a_percent_of_strike(tmp_path):
    output = tmp_path / "pricer.safetensors"
    r = results("option_pricing", "--output", str(output))
    assert r["n_train"] + r["n_heldout"] >= 50_000
    assert r["heldout_rmse"] < 0.005, r
    assert r["architecture"].startswith("Standardize") and "tanh" in r["architecture"]
    # Greeks by backprop to the inputs (ng.input_gradient) against the Black-Scholes closed forms
    assert r["heldout_delta_mae"] <= 0.02, r
    assert r["heldout_vega_mae"] <= 0.03, r
    assert Path(r["model_path"]) == output and output.is_file()
    assert r["reload_max_abs_diff"] == 0.0
    # The saved model takes raw inputs (its first layer standardises them): price fresh options.
    model = ng.load(output)
    fresh = ng.datasets.black_scholes(2000, seed=12345)
    predicted = ng.predict(model, fresh.x)
    assert float(np.sqrt(np.mean((predicted - fresh.price) ** 2))) < 0.005
    assert model.metadata["inputs"] == list(fresh.columns)
    greeks = ng.input_gradient(model, fresh.x)  # through the model's Standardize layer
    assert float(np.mean(np.abs(greeks[:, :1] - fresh.delta))) <= 0.02
    assert float(np.mean(np.abs(greeks[:, 3:] - fresh.vega))) <= 0.03
