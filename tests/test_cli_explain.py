"""`nudgenet explain`, `nudgenet gradcheck` and `train --plot`, run for real in subprocesses."""

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng
from nudgenet import cli, recipes
from test_cli import run as run_checked  # tests/ is on sys.path under pytest


def run(*args, cwd):
    """``python -m nudgenet ARGS`` in a subprocess; the exit code is the caller's to check."""
    return run_checked(*args, cwd=cwd, check=False)


def last_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import matplotlib  # noqa: F401  (the test extra installs it: missing, this fails)
    folder = tmp_path_factory.mktemp("explain")
    summary = last_json(
        run(
            "train", "--epochs", "4", "--layers", "16", "--plot", "curves.png", "--json", cwd=folder
        )
    )
    return folder, summary


def test_train_plot_writes_curves_and_gradient_norms(trained):
    folder, summary = trained
    assert summary["figures"] == ["curves.png", "curves-gradients.png"]
    assert png_size(folder / "curves.png") == (1000, 400)
    assert png_size(folder / "curves-gradients.png") == (1000, 400)
    assert set(summary["grad_norms"]) == {"0", "2"} and all(
        v > 0 for v in summary["grad_norms"].values()
    )
    assert set(summary["dead_units"]) == {"1"} and 0 <= summary["dead_units"]["1"] <= 1


def test_explain_prints_ranked_nudges_and_writes_figures(trained):
    folder, summary = trained
    model = folder / summary["model_path"]
    text = run("explain", model, "--index", "7", "--out", "explain.png", cwd=folder)
    assert text.returncode == 0, text.stderr
    assert "digits held-out row 7" in text.stdout and "nudge = -dC/da" in text.stdout
    assert "top 10 parameters" in text.stdout and "nudge test" in text.stdout
    payload = last_json(run("explain", model, "--index", "7", "--json", cwd=folder))
    # independently: the held-out row 7 and −∂C/∂logits = onehot − softmax
    data = recipes.load_dataset("digits", test_size=0.2, seed=0)
    logits = ng.predict(ng.load(model), data.x_test[7:8]).astype(np.float64)[0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    expected = np.eye(10)[data.y_test[7]] - p
    np.testing.assert_allclose(payload["nudges"][0], expected, atol=1e-5)
    assert payload["ranked_outputs"][0]["unit"] == data.y_test[7] == payload["target"]
    assert payload["nudge_test"]["relative_error"] < 0.01
    assert png_size(folder / "explain.png") == (1100, 700)
    assert png_size(folder / "explain-weights.png") == (700, 700)


def test_figures_that_cannot_be_written_fail_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as usage:  # a suffix matplotlib cannot write: a usage mistake
        cli.main(["train", "--plot", "curves.txt", "--quiet"])
    assert usage.value.code == 2 and "expected one of the suffixes" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    assert cli.main(["train", "--plot", "curves.png", "--quiet"]) == 1
    assert 'needs matplotlib, an optional extra: pip install "nudgenet[plot]"' in (
        capsys.readouterr().err
    )
    assert cli.main(["explain", "absent.safetensors", "--out", "x.png"]) == 1
    assert 'pip install "nudgenet[plot]"' in capsys.readouterr().err  # not "no model file"
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing saved


def test_explain_s_figures_never_replace_the_model_it_reads(trained, tmp_path, monkeypatch,
                                                              capsys):  # fmt: skip
    """explain model.png --out model.png wrote the figure over the model it read (and the
    -network figure over a model of that name)."""
    folder, _ = trained
    model = (folder / "nudgenet-digits.safetensors").read_bytes()
    monkeypatch.chdir(tmp_path)
    for name, out, said in [
        ("model.png", "model.png", "the model file and --out name the same path, model.png; --out "
                                   "would replace the model it reads"),
        ("e-network.png", "e.png", "the model file and --out's network figure name the same path, "
                                   "e-network.png; --out's network figure would replace the model "
                                   "it reads"),
    ]:  # fmt: skip
        (tmp_path / name).write_bytes(model)
        assert cli.main(["explain", name, "--out", out]) == 2
        assert said in capsys.readouterr().err
        assert (tmp_path / name).read_bytes() == model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e-network.png", "model.png"]


def test_explain_s_figure_never_replaces_the_data_its_model_s_record_names(tmp_path, monkeypatch,
                                                                          capsys):  # fmt: skip
    """Without --dataset, explain reads the files the model's record names: --out labs.raw wrote
    the figure over the IDX labels (matplotlib writes .raw), and the next explain failed."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    images = (rng.random((200, 4, 4)) * 255).astype(np.uint8)
    ng.data.save_idx("imgs.raw", images)
    ng.data.save_idx("labs.raw", (images.reshape(200, -1).mean(1) > 127).astype(np.uint8))
    assert cli.main(["train", "--dataset", "imgs.raw", "--labels", "labs.raw", "-o", "m.st",
                     "--epochs", "2", "--layers", "4", "-q"]) == 0  # fmt: skip
    labels = (tmp_path / "labs.raw").read_bytes()
    capsys.readouterr()
    assert cli.main(["explain", "m.st", "--out", "labs.raw"]) == 2
    assert "the model's labels file and --out name the same path, labs.raw; --out would " \
           "replace the data it reads" in capsys.readouterr().err  # fmt: skip
    assert (tmp_path / "labs.raw").read_bytes() == labels
    ng.data.save_idx("more.raw", images[:50])  # another data set: the model's labels unread
    ng.data.save_idx("more-labs.raw", np.zeros(50, np.uint8))
    code = cli.main(["explain", "m.st", "--dataset", "more.raw", "--labels", "more-labs.raw",
                     "--out", "labs.raw"])  # fmt: skip
    assert "name the same path" not in capsys.readouterr().err
    assert code == 0 and (tmp_path / "labs.raw").read_bytes() != labels  # (asked for: a figure)


def test_explain_draws_a_table_of_a_square_number_of_features_as_bars(
    tmp_path, monkeypatch, capsys
):
    import matplotlib  # noqa: F401  (the test extra installs it: missing, this fails)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)  # 64 tabular features: a square, but not an 8x8 image
    np.savez("table.npz", x=rng.normal(size=(60, 64)), y=np.arange(60) % 3)
    assert cli.main(["train", "--dataset", "table.npz", "--epochs", "1", "--layers", "4",
                     "--quiet", "-o", "table.safetensors"]) == 0  # fmt: skip
    drawn = []
    draw = ng.plot.plot_explanation
    monkeypatch.setattr(ng.plot, "plot_explanation", lambda *a, **k: drawn.append(draw(*a, **k)))
    assert cli.main(["explain", "table.safetensors", "--out", "explain.png"]) == 0
    panel = drawn[0].axes[0]
    assert not panel.images and len(panel.patches) == 64  # a bar per feature
    written = capsys.readouterr().out
    assert "figure written to explain.png" in written and "explain-weights" not in written


def test_explain_rejects_a_row_outside_the_held_out_set(trained):
    folder, summary = trained
    result = run("explain", folder / summary["model_path"], "--index", "5000", cwd=folder)
    assert result.returncode == 1 and "outside the 360 held-out rows" in result.stderr


def test_explain_on_another_data_set_speaks_of_its_rows_not_held_out_ones(
    trained, monkeypatch, capsys
):
    folder, summary = trained
    monkeypatch.chdir(folder)
    x, y = ng.datasets.digits()
    np.savez("other.npz", x=x[:30], y=y[:30])
    model = str(folder / summary["model_path"])
    text = run("explain", model, "--dataset", "other.npz", "--index", "3", cwd=folder)
    assert text.returncode == 0, text.stderr
    first = text.stdout.splitlines()[0]
    assert first.startswith(f"other.npz row 3 (of all 30 rows): target {y[3]}")
    last = run("explain", model, "--dataset", "other.npz", "--index", "-1", cwd=folder)
    assert last.stdout.startswith(f"other.npz row 29 (--index -1, of all 30 rows): target {y[29]}")
    outside = run("explain", model, "--dataset", "other.npz", "--index", "30", cwd=folder)
    assert outside.returncode == 1
    assert outside.stderr.strip().endswith("--index 30 is outside the 30 rows of other.npz")
    labels = []  # the figure's title names the row the same way
    monkeypatch.setattr(ng.plot, "plot_explanation", lambda *a, **k: labels.append(k["label"]))
    assert cli.main(["explain", model, "--dataset", "other.npz", "--index", "3", "--out",
                     "other.png"]) == 0  # fmt: skip
    assert labels == [f"other.npz row 3 (of all 30 rows), target {y[3]}"]
    capsys.readouterr()
    assert cli.main(["explain", model, "--index", "3", "--out", "own.png"]) == 0
    assert labels[1].startswith("digits held-out row 3, target")


def test_explain_counts_a_negative_index_from_the_end(trained, monkeypatch, capsys):
    """--index -1 passed the range check, then its row's target was the empty slice y[-1:0]
    ("inputs have 1 rows but targets have 0 rows")."""
    folder, summary = trained
    monkeypatch.chdir(folder)
    model = str(folder / summary["model_path"])
    outputs = []
    for index in ("-1", "359"):  # the last of the 360 held-out rows, both ways
        assert cli.main(["explain", model, "--index", index, "--json"]) == 0
        payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        outputs.append((payload["target"], payload["loss"], payload["index"]))
    assert outputs[0][:2] == outputs[1][:2] and outputs[0][2] == -1
    assert cli.main(["explain", model, "--index", "-1"]) == 0
    assert capsys.readouterr().out.startswith("digits held-out row 359 (--index -1): target ")
    assert cli.main(["explain", model, "--index", "-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["row"] == 359


def test_explain_prints_a_regression_target_to_four_digits(tmp_path, monkeypatch, capsys):
    """A regression's target was printed as a raw list at full precision."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    targets = {"r": (x @ [1.0, 2.0, 3.0] / 7)[:, None], "whole": np.arange(60) * 1000 + 154488}
    for name, y in targets.items():
        np.savez(f"{name}.npz", x=x, y=y)
        argv = ["train", "--dataset", f"{name}.npz", "--task", "regression", "--epochs", "2"]
        assert cli.main([*argv, "-q", "-o", f"{name}.safetensors"]) == 0
        capsys.readouterr()
        assert cli.main(["explain", f"{name}.safetensors", "--index", "0"]) == 0
        target = capsys.readouterr().out.splitlines()[0].split("target ")[1]
        if name == "whole":  # a whole number in full, not 1.545e+05
            assert target.isdigit() and int(target) in y, target
        else:
            assert "[" not in target and len(target.lstrip("-").replace(".", "")) <= 6, target


@pytest.mark.parametrize("value, dtype, text", [
    (154488.0, np.float32, "154488"), (-3.0, np.float32, "-3"),
    (123456789.0, np.float32, "1.235e+08"),  # float32 holds it as 123456792: no false digits
    (2.0**23 - 1, np.float32, "8388607"), (2.0**23 + 1, np.float32, "8.389e+06"),
    (123456789.0, np.float64, "123456789"), (0.14045985, np.float64, "0.1405"),
])  # fmt: skip
def test_a_target_prints_in_full_only_where_its_dtype_holds_every_digit(value, dtype, text):
    from nudgenet.cli.explain import _target_text

    assert _target_text(np.array([value], dtype=dtype)) == text


@pytest.mark.parametrize("top", ["0", "-2"])
def test_explain_top_is_a_whole_number_of_at_least_one(trained, top):
    folder, summary = trained
    result = run("explain", folder / summary["model_path"], "--top", top, cwd=folder)
    assert result.returncode == 2
    assert f"--top: expected a whole number >= 1, got '{top}'" in result.stderr


def test_gradcheck_of_an_architecture_and_a_saved_model_passes(trained):
    folder, summary = trained
    table = run("gradcheck", "784-16-16-10", "--activation", "tanh", cwd=folder)
    assert table.returncode == 0, table.stderr
    assert "all gradients match" in table.stdout and "0.weight" in table.stdout
    report = last_json(run("gradcheck", folder / summary["model_path"], "--json", cwd=folder))
    assert report["passed"] and [p["name"] for p in report["parameters"]] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]


def test_gradcheck_fails_with_exit_code_3_at_relu_kinks(tmp_path):
    # all-zero rows and zero biases put every first-layer ReLU exactly at its kink z = 0, where
    # backprop takes the derivative 0 and central differences see (ε − 0) / 2ε = 1/2
    np.savez(tmp_path / "zeros.npz", x=np.zeros((8, 4), np.float32), y=np.arange(8) % 3)
    result = run("gradcheck", "4-3-3", "--dataset", "zeros.npz", cwd=tmp_path)
    assert result.returncode == cli.GRADIENT_MISMATCH == 3
    assert "FAIL" in result.stdout and "0.bias" in result.stderr
    smooth = run(
        "gradcheck", "4-3-3", "--activation", "softplus", "--dataset", "zeros.npz", cwd=tmp_path
    )
    assert smooth.returncode == 0, smooth.stdout


def test_gradcheck_exit_code_with_a_sabotaged_model(tmp_path, monkeypatch, capsys):
    """In-process: a Linear whose backward drops the bias gradient's sign must fail the check."""
    from nudgenet.functional import layers as F

    original = F.LinearFunction.backward

    def sabotaged(self, g):
        gx, gw, *rest = original(self, g)
        return (gx, gw, *[-r if r is not None else None for r in rest])

    monkeypatch.setattr(F.LinearFunction, "backward", sabotaged)
    assert cli.main(["gradcheck", "5-4-3", "--activation", "tanh", "--json"]) == 3
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    failed = {p["name"] for p in report["parameters"] if not p["passed"]}
    assert failed == {"0.bias", "2.bias"}


def test_gradcheck_rejects_a_bad_architecture(tmp_path):
    result = run("gradcheck", "784-x-10", cwd=tmp_path)
    assert result.returncode == 1 and "architecture like 784-16-16-10" in result.stderr
