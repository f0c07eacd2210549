"""The `nudgenet` command, run for real in subprocesses."""

import gzip
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist"


def run(*args, cwd, check=True, env=None):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "nudgenet", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def last_json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    result = run("train", "--json", cwd=folder)
    return folder, last_json(result)


def test_train_with_no_arguments_reaches_95_percent_on_digits(digits_model):
    folder, summary = digits_model
    assert summary["dataset"] == "digits" and summary["task"] == "classification"
    assert summary["test_accuracy"] >= 0.95
    assert summary["epochs"] == 30 and summary["train_loss"] < summary["test_loss"] + 1
    assert summary["val_loss"] > 0  # 10% of the training rows are held back by default
    assert (folder / summary["model_path"]).is_file()


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "nudgenet"
    if not script.exists():
        pytest.skip("package not installed in this environment (running from src/)")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


def test_evaluate_rebuilds_the_same_held_out_split(digits_model):
    folder, summary = digits_model
    scores = last_json(run("evaluate", summary["model_path"], "--json", cwd=folder))
    assert scores["rows"] == 360
    assert scores["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert scores["loss"] == pytest.approx(summary["test_loss"], rel=1e-6)


def test_predict_prints_classes_and_probabilities(digits_model, tmp_path):
    folder, summary = digits_model
    x, y = ng.datasets.digits()
    np.save(tmp_path / "rows.npy", x[:5])
    np.savetxt(tmp_path / "rows.csv", x[:5], delimiter=",")
    model = folder / summary["model_path"]
    from_npy = last_json(run("predict", model, tmp_path / "rows.npy", "--json", cwd=tmp_path))
    from_csv = last_json(run("predict", model, tmp_path / "rows.csv", "--json", cwd=tmp_path))
    assert from_npy["classes"] == from_csv["classes"]
    probabilities = np.array(from_npy["probabilities"])
    assert probabilities.shape == (5, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    expected = ng.predict(ng.load(model), x[:5]).argmax(axis=1)
    assert from_npy["classes"] == expected.tolist()
    text = run("predict", model, tmp_path / "rows.npy", cwd=tmp_path).stdout
    assert text.startswith("row 0: ")


def test_predict_into_a_closed_pipe_stops_quietly(digits_model, tmp_path):
    folder, summary = digits_model
    x, _ = ng.datasets.digits()
    np.save(tmp_path / "many.npy", np.tile(x, (20, 1)))  # ~36,000 lines: more than a pipe holds
    command = [sys.executable, "-m", "nudgenet", "predict", folder / summary["model_path"]]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with subprocess.Popen(
        [*map(str, command), str(tmp_path / "many.npy")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as process:
        assert process.stdout.readline().startswith(b"row 0: ")
        process.stdout.close()  # the reader goes away, as `| head -n 1` does
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=120) == 1
    assert stderr == ""


def test_regression_on_black_scholes(tmp_path):
    result = run(
        "train",
        "--dataset",
        "black-scholes",
        "--samples",
        "4000",
        "--layers",
        "32",
        "--activation",
        "tanh",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "5",
        "--json",
        "-q",
        "-o",
        "bs.safetensors",
        cwd=tmp_path,
    )
    summary = last_json(result)
    assert summary["task"] == "regression" and summary["test_rmse"] < 0.05
    assert summary["model_path"] == "bs.safetensors"
    names = ng.load(tmp_path / "bs.safetensors").metadata["feature_names"]
    assert names == list(ng.datasets.black_scholes(1).columns)  # explain's figures name them
    rows = ng.datasets.black_scholes(3, seed=9).x
    np.save(tmp_path / "options.npy", rows)
    values = last_json(run("predict", "bs.safetensors", "options.npy", "--json", cwd=tmp_path))
    assert np.array(values["predictions"]).shape == (3, 1)


def test_user_csv_with_early_stopping_and_options(tmp_path):
    x, y = ng.datasets.spirals(300, classes=3, seed=0)
    table = np.column_stack([x, y])
    np.savetxt(tmp_path / "spirals.csv", table, delimiter=",", header="a,b,label", comments="")
    summary = last_json(
        run(
            "train",
            "--dataset",
            "spirals.csv",
            "--label-column",
            "label",
            "--layers",
            "32,32",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--epochs",
            "200",
            "--early-stopping",
            "10",
            "--batch-size",
            "16",
            "--json",
            "-q",
            cwd=tmp_path,
        )
    )
    assert summary["epochs"] < 200 and summary["val_loss"] is not None
    assert summary["test_accuracy"] >= 0.85
    assert last_json(run("evaluate", summary["model_path"], "--json", cwd=tmp_path))["rows"] == 60


@pytest.mark.skipif(not MNIST.is_dir(), reason="shared MNIST files not present")
def test_mnist_from_a_local_folder(tmp_path, monkeypatch):
    summary = last_json(
        run(
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            MNIST,
            "--layers",
            "16,16",
            "--batch-size",
            "100",
            "--epochs",
            "5",
            "--json",
            "-q",
            cwd=tmp_path,
        )
    )
    assert summary["test_accuracy"] >= 0.88
    monkeypatch.delenv("NUDGENET_DATA", raising=False)  # found again through the model's metadata
    scores = last_json(run("evaluate", summary["model_path"], "--json", cwd=tmp_path))
    assert scores["accuracy"] == pytest.approx(summary["test_accuracy"])


def _error(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_user_mistakes_give_one_line_errors(digits_model, tmp_path):
    folder, summary = digits_model
    model = folder / summary["model_path"]
    assert "no such file" in _error(run("predict", model, "absent.npy", cwd=tmp_path, check=False))
    assert "no model file" in _error(
        run("evaluate", "absent.safetensors", cwd=tmp_path, check=False)
    )
    assert "unknown data set 'nope'" in _error(
        run("train", "--dataset", "nope", cwd=tmp_path, check=False)
    )
    assert _error(run("train", "--dataset", "nosuch.csv", cwd=tmp_path, check=False)) == (
        "nudgenet train: error: nosuch.csv: no such file"  # not "unknown data set"
    )
    assert "unrecognized arguments: --bogus" in _error(
        run("train", "--bogus", cwd=tmp_path, check=False)
    )
    bad_value = run("train", "--epochs", "x", cwd=tmp_path, check=False)
    assert bad_value.returncode == 2  # argparse's code for a usage mistake
    assert "expected a fraction between 0 and 1, got '1'" in _error(
        run("train", "--test-size", "1", cwd=tmp_path, check=False)
    )
    assert "needs --validation-split > 0" in _error(
        run("train", "--early-stopping", "3", "--validation-split", "0", cwd=tmp_path, check=False)
    )
    assert "expected a whole number >= 1, got 'x' (see nudgenet train --help)" in _error(bad_value)
    np.save(tmp_path / "narrow.npy", np.zeros((2, 60), np.float32))
    message = _error(run("predict", model, "narrow.npy", cwd=tmp_path, check=False))
    assert message.endswith("narrow.npy: expected 64 feature columns, as the model takes, got 60")
    (tmp_path / "broken.safetensors").write_bytes(model.read_bytes()[:100])
    assert "not a readable" in _error(
        run("evaluate", "broken.safetensors", cwd=tmp_path, check=False)
    )


def test_an_idx_pair_trains_and_evaluates_without_naming_the_labels_again(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200).astype(np.uint8)
    pictures = np.zeros((200, 4, 4), np.uint8)
    pictures[labels == 1, :2] = 200  # class 1 is bright on top
    pictures += rng.integers(0, 40, pictures.shape, dtype=np.uint8)
    ng.datasets.save_idx(tmp_path / "pics-idx3-ubyte.gz", pictures)
    ng.datasets.save_idx(tmp_path / "tags-idx1-ubyte", labels)
    summary = last_json(
        run(
            "train",
            "--dataset",
            "pics-idx3-ubyte.gz",
            "--labels",
            "tags-idx1-ubyte",
            "--epochs",
            "5",
            "--json",
            cwd=tmp_path,
        )
    )
    assert summary["test_accuracy"] == 1.0
    scores = last_json(run("evaluate", summary["model_path"], "--json", cwd=tmp_path))
    assert scores["rows"] == 40 and scores["accuracy"] == 1.0
    elsewhere = tmp_path / "elsewhere"  # the model file holds absolute paths to both files
    elsewhere.mkdir()
    model = tmp_path / summary["model_path"]
    assert last_json(run("evaluate", model, "--json", cwd=elsewhere)) == scores


def test_corrupt_and_mismatched_idx_files(tmp_path):
    images = tmp_path / "images-idx3-ubyte.gz"
    labels = tmp_path / "labels-idx1-ubyte.gz"
    ng.datasets.save_idx(images, np.zeros((10, 4, 4), np.uint8))
    ng.datasets.save_idx(labels, np.zeros(9, np.uint8))
    message = _error(
        run("train", "--dataset", images, "--labels", labels, cwd=tmp_path, check=False)
    )
    assert message.endswith("holds 10 images but " + str(labels) + " holds 9 labels")
    good = gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(5))
    (tmp_path / "truncated.gz").write_bytes(good[:-6])
    message = _error(
        run(
            "train",
            "--dataset",
            images,
            "--labels",
            tmp_path / "truncated.gz",
            cwd=tmp_path,
            check=False,
        )
    )
    assert "gzip" in message
    without_labels = run("train", "--dataset", images, cwd=tmp_path, check=False)
    assert "looks like an IDX images file" in _error(without_labels)
    assert "--labels FILE" in _error(without_labels)


def test_help_for_every_command():
    for command in ("train", "evaluate", "predict", "explain", "gradcheck"):
        result = run(command, "--help", cwd=REPO)
        assert "--json" in result.stdout


def test_gradcheck_on_a_data_set_checks_its_first_rows_each_once(tmp_path, monkeypatch, capsys):
    """It checked the first rows of the shuffled training part followed by the held-out rows:
    xor's 4 rows twice as "the first 8 rows", another file's rows in a shuffled order."""
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["gradcheck", "2-4-1", "--dataset", "xor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == "the first 4 rows of xor"
    rows = np.random.default_rng(1).normal(size=(30, 3))
    np.savetxt("r.csv", rows, delimiter=",", header="a,b,target", comments="", fmt="%.6f")
    argv = ["gradcheck", "2-3-1", "--dataset", "r.csv", "--rows", "5", "--seed", "0", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    model = ng.recipes.build_mlp(2, [3], 1, "relu", None, 0).double()
    x, y = np.loadtxt("r.csv", delimiter=",", skiprows=1)[:5].T[:2].T, rows[:5, 2:]
    expected = ng.MSELoss()(model(x), np.round(y, 6)).item()
    assert report["rows"] == "the first 5 rows of r.csv" and report["loss"] == pytest.approx(
        expected, rel=1e-6
    )


def test_a_named_pipe_as_a_csv_file_is_refused_not_waited_on(tmp_path):
    """The commands read a CSV file more than once; a named pipe as one hung them for ever
    (predict read its first rows, then waited for a second writer).  An .npy pipe, read once,
    still works."""
    rows = np.random.default_rng(0).normal(size=(40, 3))
    np.savetxt(tmp_path / "r.csv", rows, delimiter=",", header="a,b,y", comments="", fmt="%.5f")
    run("train", "--dataset", "r.csv", "--epochs", "1", "-o", "m.st", cwd=tmp_path)
    os.mkfifo(tmp_path / "pipe.csv")
    message = "pipe.csv: not a regular file (a named pipe?); a CSV file is read more than once"
    for command in (["predict", "m.st", "pipe.csv"], ["evaluate", "m.st", "--dataset", "pipe.csv"],
                    ["train", "--dataset", "pipe.csv", "-o", "n.st"]):  # fmt: skip
        result = subprocess.run([sys.executable, "-m", "nudgenet", *command], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
        assert result.returncode == 1 and message in _error(result)
    os.mkfifo(tmp_path / "pipe.npy")
    np.save(tmp_path / "x.npy", rows[:3, :2].astype(np.float32))
    writer = subprocess.Popen(["cp", "x.npy", "pipe.npy"], cwd=tmp_path)
    result = run("predict", "m.st", "pipe.npy", "--json", cwd=tmp_path)
    writer.wait(timeout=60)
    assert len(last_json(result)["predictions"]) == 3


def test_task_option_reads_whole_number_targets_as_values(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.random(300)
    table = np.column_stack([a, np.round(1000 * a + 5000)])  # 300 distinct whole numbers
    np.savetxt(tmp_path / "price.csv", table, delimiter=",", header="a,price", comments="")
    common = (
        "train",
        "--dataset",
        "price.csv",
        "--label-column",
        "price",
        "--epochs",
        "30",
        "--json",
        "-q",
    )
    auto = last_json(run(*common, cwd=tmp_path))
    assert auto["task"] == "regression" and "test_rmse" in auto
    assert auto["test_rmse"] < 30  # targets spread over 5000..6000 (std 290)
    forced = run(*common, "--task", "classification", cwd=tmp_path, check=False)
    assert "class" in _error(forced)  # 300 classes of one row each cannot be split
    scores = last_json(run("evaluate", auto["model_path"], "--json", cwd=tmp_path))
    assert scores["rmse"] == pytest.approx(auto["test_rmse"], rel=1e-6)


def offline(folder):
    """An environment where no other MNIST folder is searched and a download fails at once (a
    proxy that refuses)."""
    return {
        "NUDGENET_DATA": "",
        "XDG_CACHE_HOME": str(folder / "cache"),
        "https_proxy": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
    }


def train_offline_on_mnist_in(folder, check=True):
    """``nudgenet train --dataset mnist --data-dir folder`` for one epoch, offline."""
    command = ("train", "--dataset", "mnist", "--data-dir", folder, "--epochs", "1")
    return run(*command, cwd=folder, env=offline(folder), check=check)


def write_mnist_pair(folder, prefix, n):
    rng = np.random.default_rng(n)
    ng.datasets.save_idx(
        folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8)
    )
    ng.datasets.save_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10)


def truncate(path, cut=100):
    path.write_bytes(path.read_bytes()[:-cut])


def test_mnist_uses_the_training_files_and_says_how_many_rows(tmp_path):
    write_mnist_pair(tmp_path, "train", 30)
    write_mnist_pair(tmp_path, "t10k", 20)
    result = train_offline_on_mnist_in(tmp_path)
    assert "standard MNIST split (30 train / 20 held out)" in result.stderr
    assert "held-out: loss" in result.stdout


def test_a_truncated_mnist_training_file_is_an_error_not_a_fallback(tmp_path):
    write_mnist_pair(tmp_path, "train", 30)
    write_mnist_pair(tmp_path, "t10k", 20)
    truncate(tmp_path / "train-images-idx3-ubyte")
    result = train_offline_on_mnist_in(tmp_path, check=False)
    message = _error(result)
    assert result.returncode == 1
    assert str(tmp_path / "train-images-idx3-ubyte") in message and "truncated" in message
    assert not list(tmp_path.glob("*.safetensors"))


def test_a_truncated_mnist_test_file_is_named_not_reported_missing(tmp_path):
    write_mnist_pair(tmp_path, "t10k", 20)  # no training files: the 10k set would be split
    truncate(tmp_path / "t10k-labels-idx1-ubyte", cut=3)
    result = train_offline_on_mnist_in(tmp_path, check=False)
    message = _error(result)
    assert result.returncode == 1
    assert str(tmp_path / "t10k-labels-idx1-ubyte") in message and "truncated" in message
    assert "not found" not in message and "download" not in message


def test_a_diverged_run_ends_with_one_line_and_saves_nothing(tmp_path):
    command = ("train", "--dataset", "black-scholes", "--samples", "500", "--lr", "10", "-q")
    result = run(*command, cwd=tmp_path, check=False)
    message = _error(result)  # no RuntimeWarning lines from numpy or fit
    assert result.returncode == 1
    # fit stops at the first non-finite batch, naming its step and layer (issue 12)
    assert "training diverged: the training loss became inf in epoch 1, step 4; " in message
    # the outputs are finite but so large that their squared error overflows float32
    assert "every layer's output is finite: the loss itself overflowed" in message
    assert "no model saved" in message and not list(tmp_path.iterdir())
    momentum = run("train", "--momentum", "5", cwd=tmp_path, check=False)
    assert momentum.returncode == 2
    assert "--momentum: expected 0 or a fraction between 0 and 1, got '5'" in _error(momentum)


def test_a_regression_trains_with_the_default_options_for_every_seed(tmp_path):
    """sgd's 0.05 (momentum 0.9) diverged on a two-feature, almost noise-free linear target
    with seed 0 (and fit others poorly): a regression's default rate is 0.005; an explicit --lr
    still rules, and a checkpoint made with one resumes with it."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 2))
    y = 3 * x[:, 0] - x[:, 1] + 0.01 * rng.normal(size=400)
    np.savetxt(tmp_path / "lin.csv", np.c_[x, y], delimiter=",", header="a,b,y", comments="",
               fmt="%.4f")  # fmt: skip
    for seed in range(8):
        command = ("train", "--dataset", "lin.csv", "--seed", seed, "--json", "-q", "--overwrite")
        assert last_json(run(*command, cwd=tmp_path))["test_rmse"] < 0.2, seed
    checkpointed = ("train", "--dataset", "lin.csv", "--checkpoint", "ck", "--overwrite")
    run(*checkpointed, "--lr", "0.05", "--epochs", "1", "-q", cwd=tmp_path)
    resumed = run(*checkpointed, "--lr", "0.05", "--epochs", "2", cwd=tmp_path)
    assert "fit: resuming from ck" in resumed.stderr
    default = run(*checkpointed, "--epochs", "3", "-q", cwd=tmp_path, check=False)
    assert "is of another run: optimizer[1].lr 0.05 there, 0.005 here" in _error(default)
    assert _error(default).endswith("(or, to resume it, give the learning rate it started at, "
                                    "0.05)")  # fmt: skip


def test_a_diverged_run_with_early_stopping_saves_its_best_epoch_with_a_note(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    table = np.column_stack([x, x[:, 0] + 0.5 * x[:, 1] + 0.1])
    np.savetxt(tmp_path / "lin.csv", table, delimiter=",", header="a,b,target", comments="")
    train = ("train", "--dataset", "lin.csv", "--layers", "16", "--batch-size", "8", "--lr", "0.1")
    train = [*train, "--epochs", "100", "--early-stopping", "100"]  # it diverges long before
    result = run(*train, "-v", cwd=tmp_path)
    val_losses = [float(v) for v in re.findall(r"val_loss: (\S+)", result.stdout)]
    diverged, best = len(val_losses), int(np.nanargmin(val_losses)) + 1
    assert 1 < best < diverged < 100 and not val_losses[-1] < 1e6  # runaway (issue 11) or NaN
    note = result.stderr.strip().splitlines()[-1]  # the info line, then only this one
    assert len(result.stderr.strip().splitlines()) == 2
    assert note.startswith(f"nudgenet: training diverged in epoch {diverged} (training loss ")
    assert note.endswith(f"saving epoch {best}, the best val_loss, kept by --early-stopping")
    held_out = float(re.search(r"held-out: loss (\S+),", result.stdout)[1])
    assert np.isfinite(held_out) and (tmp_path / "nudgenet-lin.safetensors").is_file()
    summary = json.loads(  # strict JSON: no NaN or Infinity
        run(*train, "--json", cwd=tmp_path).stdout.splitlines()[-1],
        parse_constant=lambda name: pytest.fail(f"{name} in the JSON"),
    )
    assert summary["diverged_epoch"] == diverged and summary["kept_epoch"] == best
    assert summary["epochs"] == diverged and summary["test_loss"] == pytest.approx(held_out, 1e-4)
    train[train.index("--epochs") + 1] = best  # the same run, stopped after the best epoch
    stopped = last_json(run(*train, "--json", "-o", "best.safetensors", cwd=tmp_path))
    assert stopped["test_loss"] == summary["test_loss"]  # the weights saved are that epoch's
    # no finite epoch to keep (NaN from the first): the one-line error, nothing saved
    command = ("train", "--dataset", "black-scholes", "--samples", "500", "--lr", "10", "-q")
    command += ("--early-stopping", "3", "-o", "b.safetensors")
    nothing = run(*command, cwd=tmp_path, check=False)
    assert nothing.returncode == 1 and "training diverged" in _error(nothing)
    assert "no model saved" in _error(nothing) and not (tmp_path / "b.safetensors").exists()


def _address_space_limit(size: int):
    """A preexec_fn: the child process may map at most ``size`` bytes, so a larger allocation is
    a MemoryError whatever the host's memory overcommit setting (which could otherwise let it
    through to the OOM killer)."""

    def limit():
        import resource  # POSIX only

        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return limit


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_running_out_of_memory_is_one_line(tmp_path):
    command = [sys.executable, "-m", "nudgenet", "train", "--layers", "1,1000000000000", "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(  # a terabyte layer in a process limited to 4 GiB
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        preexec_fn=_address_space_limit(4 << 30),
    )  # fmt: skip
    message = _error(result)
    assert result.returncode == 1 and message.startswith("nudgenet train: error: out of memory")
    assert "shape (1, 1000000000000)" in message  # the layer's weights, not something else


def test_ctrl_c_during_training_is_one_line_and_exit_130(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "nudgenet", "train", "--epochs", "100000"]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as a terminal delivers it, even where the suite runs with SIGINT ignored (a
        # background job of a shell without job control: the child would inherit that)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as process:
        assert process.stderr.readline().startswith("nudgenet: digits:")  # the info line
        assert process.stdout.readline().startswith("Epoch 1/100000")  # training is under way
        process.send_signal(signal.SIGINT)
        # drain both pipes: epoch lines written before the signal can fill a pipe that nobody
        # reads, and the child then blocks in its exit flush until the timeout
        _, rest_of_stderr = process.communicate(timeout=60)
        assert process.returncode == 130
        assert rest_of_stderr == "nudgenet train: interrupted\n"
    assert not list(tmp_path.iterdir())


def test_a_model_file_declaring_a_huge_layer_is_a_one_line_error(tmp_path):
    from safetensors.numpy import save_file

    huge = {"type": "Linear", "in_features": 10**6, "out_features": 10**6, "bias": True}
    header = {
        "format": "nudgenet-model",
        "architecture": json.dumps({"type": "Sequential", "layers": [huge]}),
        "metadata": json.dumps({"dataset": "digits"}),
    }
    tensors = {"0.weight": np.zeros((64, 10), np.float32), "0.bias": np.zeros(10, np.float32)}
    save_file(tensors, str(tmp_path / "huge.safetensors"), metadata=header)
    result = run("evaluate", "huge.safetensors", cwd=tmp_path, check=False)
    message = _error(result)
    assert result.returncode == 1
    assert "tensor '0.weight' has shape (64, 10), the architecture declares (1000000, 1000000)" in (
        message
    )


def test_a_csv_header_without_a_label_column_is_not_guessed(tmp_path):
    x, y = ng.datasets.spirals(100, classes=2, seed=0)
    table = np.column_stack([y, x])
    np.savetxt(tmp_path / "anon.csv", table, delimiter=",", header="a,b,c", comments="")
    np.savetxt(tmp_path / "named.csv", table, delimiter=",", header="Target,b,c", comments="")
    result = run("train", "--dataset", "anon.csv", "--epochs", "1", cwd=tmp_path, check=False)
    message = _error(result)
    assert result.returncode == 1 and "the columns are ['a', 'b', 'c']" in message
    assert "--label-column" in message and not list(tmp_path.glob("*.safetensors"))
    named = run("train", "--dataset", "named.csv", "--epochs", "1", "--verbose", cwd=tmp_path)
    info = "classification, 2 features (b, c), 2 classes (0, 1), labels in column 'Target'"
    assert info in named.stderr
    summary = last_json(
        run("train", "--dataset", "named.csv", "--epochs", "1", "--json", cwd=tmp_path)
    )
    assert summary["label_column"] == "Target" and summary["task"] == "classification"
    pick = ("--label-column", "a", "--epochs", "1", "--json")
    chosen = last_json(run("train", "--dataset", "anon.csv", *pick, cwd=tmp_path))
    assert chosen["label_column"] == "a" and chosen["test_loss"] == summary["test_loss"]


def test_training_on_labels_of_one_class_is_refused(tmp_path):
    """A softmax over one class is always 1: training reported loss 0 and a meaningless
    accuracy, and saved the model."""
    x = np.random.default_rng(0).normal(size=(60, 2))
    rows = [f"{a},{b},cat" for a, b in x]
    (tmp_path / "cats.csv").write_text("a,b,label\n" + "\n".join(rows) + "\n")
    result = run("train", "--dataset", "cats.csv", "--epochs", "1", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert _error(result) == (
        "nudgenet train: error: cats.csv: every label is 'cat': a classifier needs two or more "
        "classes (is the label column the right one? --label-column names it)"
    )
    assert not list(tmp_path.glob("*.safetensors"))
    ng.datasets.save_arrays(tmp_path / "cats.npz", x=x, y=np.zeros(60, np.int64))
    result = run("train", "--dataset", "cats.npz", "--epochs", "1", cwd=tmp_path, check=False)
    assert _error(result) == (  # an .npz has no label column to choose
        "nudgenet train: error: cats.npz: every label is '0': a classifier needs two or more "
        "classes"
    )


def test_xor_trains_with_default_options(tmp_path):
    result = run("train", "--dataset", "xor", cwd=tmp_path)
    assert "no validation rows (4 training rows are too few)" in result.stderr
    assert "held-out: loss" in result.stdout and (tmp_path / "nudgenet-xor.safetensors").is_file()
    assert last_json(run("train", "--dataset", "xor", "--json", cwd=tmp_path))["val_loss"] is None
    asked = run("train", "--dataset", "xor", "--validation-split", "0.8", cwd=tmp_path, check=False)
    assert _error(asked).endswith(  # Keras's rule: training on int(4 · 0.2) rows
        "--validation-split 0.8 of 4 training rows leaves no training rows; use 0 (none) or "
        "another fraction"
    )


def test_evaluate_from_another_folder_and_on_another_file(tmp_path):
    x, y = ng.datasets.spirals(300, classes=3, seed=0)
    order = np.random.default_rng(0).permutation(300)  # spirals come ordered by class
    x, y = x[order], y[order]
    (tmp_path / "data").mkdir()
    for name, rows in (("train.csv", slice(0, 200)), ("new.csv", slice(200, 300))):
        table = np.column_stack([x[rows], y[rows]])
        np.savetxt(tmp_path / "data" / name, table, delimiter=",", header="a,b,label", comments="")
    command = ("train", "--dataset", "data/train.csv", "--epochs", "5", "--json", "-o", "m.st")
    summary = last_json(run(*command, cwd=tmp_path))
    (tmp_path / "elsewhere").mkdir()
    model = tmp_path / "m.st"
    held = last_json(run("evaluate", model, "--json", cwd=tmp_path / "elsewhere"))
    assert held["rows"] == 40 and held["scope"] == "held-out"
    assert held["loss"] == pytest.approx(summary["test_loss"], rel=1e-6)
    spelled_otherwise = ("evaluate", model, "--dataset", "../data/./train.csv", "--json")
    assert last_json(run(*spelled_otherwise, cwd=tmp_path / "elsewhere"))["rows"] == 40
    other = run("evaluate", model, "--dataset", "data/new.csv", cwd=tmp_path).stdout
    assert other.startswith("data/new.csv all 100 rows (not the data set the model was trained on)")
    scores = last_json(run("evaluate", model, "--dataset", "data/new.csv", "--json", cwd=tmp_path))
    expected = ng.evaluate(
        ng.load(model), ng.CrossEntropyLoss(), x[200:], y[200:], metrics=["accuracy"]
    )
    assert scores["rows"] == 100 and scores["scope"] == "all"
    assert scores["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert scores["accuracy"] == expected["accuracy"]


def test_a_moved_or_copied_training_file_is_scored_on_its_held_out_rows(tmp_path):
    x, y = ng.datasets.spirals(300, classes=3, seed=0)
    table = np.column_stack([x, y])[np.random.default_rng(0).permutation(300)]
    (tmp_path / "proj").mkdir()
    np.savetxt(tmp_path / "proj" / "data.csv", table, delimiter=",", header="a,b,label",
               comments="")  # fmt: skip
    command = ("train", "--dataset", "data.csv", "--epochs", "3", "--json", "-o", "m.st")
    summary = last_json(run(*command, cwd=tmp_path / "proj"))
    (tmp_path / "proj").rename(tmp_path / "moved")
    gone = run("evaluate", "m.st", cwd=tmp_path / "moved", check=False)
    assert gone.returncode == 1
    assert _error(gone) == (
        f"nudgenet evaluate: error: {tmp_path / 'proj' / 'data.csv'}: no such file (the model "
        "was trained on it); if it moved, give its new path with --dataset PATH"
    )
    (tmp_path / "moved" / "copy.csv").write_bytes((tmp_path / "moved" / "data.csv").read_bytes())
    for name in ("data.csv", "copy.csv"):
        result = run("evaluate", "m.st", "--dataset", name, "--json", cwd=tmp_path / "moved")
        scores = last_json(result)
        assert scores["rows"] == 60 and scores["scope"] == "held-out", name
        assert scores["loss"] == pytest.approx(summary["test_loss"], rel=1e-6)
        assert result.stderr == (
            f"nudgenet: note: {name} holds the rows the model was trained on (from "
            f"{tmp_path / 'proj' / 'data.csv'}): scored on its held-out rows\n"
        )
    explained = run("explain", "m.st", "--dataset", "copy.csv", "-q", cwd=tmp_path / "moved")
    assert explained.stdout.startswith("copy.csv held-out row 0: target")


def test_a_copied_npz_training_file_is_scored_on_its_held_out_rows_too(tmp_path):
    """An .npz file's record names no label column where evaluate asks for "auto": the
    checksum was never compared, and every row was scored (inflated accuracy)."""
    x, y = ng.datasets.spirals(300, classes=3, seed=0)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    summary = last_json(run("train", "--dataset", "d.npz", "--epochs", "3", "--json", "-o",
                            "m.st", cwd=tmp_path))  # fmt: skip
    (tmp_path / "d2.npz").write_bytes((tmp_path / "d.npz").read_bytes())
    scores = last_json(run("evaluate", "m.st", "--dataset", "d2.npz", "--json", cwd=tmp_path))
    assert scores["rows"] == 60 and scores["scope"] == "held-out"
    assert scores["loss"] == pytest.approx(summary["test_loss"], rel=1e-6)


def test_evaluate_on_another_file_reads_labels_from_the_column_the_model_was_trained_on(tmp_path):
    x, y = ng.datasets.spirals(300, classes=3, seed=0)
    order = np.random.default_rng(0).permutation(300)
    x, y = x[order], y[order]
    for name, header, rows in (
        ("train.csv", "kind,a,b", slice(0, 200)),
        ("new.csv", "kind,a,b", slice(200, 250)),  # the same columns: labels in "kind"
        ("renamed.csv", "a,b,label", slice(250, 300)),  # no "kind": the usual "auto" choice
    ):
        columns = [y[rows], *x[rows].T] if header.startswith("kind") else [*x[rows].T, y[rows]]
        table = np.column_stack(columns)
        np.savetxt(tmp_path / name, table, delimiter=",", header=header, comments="")
    train = ("train", "--dataset", "train.csv", "--label-column", "kind", "--epochs", "3")
    run(*train, "-q", "-o", "m.st", cwd=tmp_path)
    for name, rows in (("new.csv", slice(200, 250)), ("renamed.csv", slice(250, 300))):
        scores = last_json(run("evaluate", "m.st", "--dataset", name, "--json", cwd=tmp_path))
        expected = ng.evaluate(ng.load(tmp_path / "m.st"), ng.CrossEntropyLoss(), x[rows], y[rows])
        assert scores["rows"] == 50 and scores["scope"] == "all"
        assert scores["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    np.savetxt(tmp_path / "bare.csv", x[:5], delimiter=",", header="a,b", comments="")
    (tmp_path / "twice.csv").write_text("kind,a,kind\n1,2,3\n")
    (tmp_path / "empty.csv").write_text("")
    for name, error in (
        ("bare.csv", "the model's labels were in column 'kind', which this file lacks; which "
         "column holds the labels? no column is named label, target, y, class; the columns are "
         "['a', 'b']: name one with --label-column"),
        ("twice.csv", "2 columns are named 'kind' (0, 2)"),  # each fault its own error
        ("empty.csv", "empty CSV file"),
        ("missing.csv", "no such file"),
    ):  # fmt: skip
        refused = run("evaluate", "m.st", "--dataset", name, cwd=tmp_path, check=False)
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"nudgenet evaluate: error: {name}: {error}"), name


def test_mnist_from_a_relative_data_dir_is_found_again_from_another_folder(tmp_path):
    (tmp_path / "files").mkdir()
    write_mnist_pair(tmp_path / "files", "t10k", 50)
    env = offline(tmp_path)
    command = ("train", "--dataset", "mnist", "--data-dir", "files", "--epochs", "1", "--json")
    summary = last_json(run(*command, cwd=tmp_path, env=env))
    (tmp_path / "elsewhere").mkdir()
    model = tmp_path / summary["model_path"]
    scores = last_json(run("evaluate", model, "--json", cwd=tmp_path / "elsewhere", env=env))
    assert scores["rows"] == 10 and scores["loss"] == pytest.approx(summary["test_loss"], rel=1e-6)


def test_train_with_no_arguments_prints_the_held_out_scores_and_saves(tmp_path):
    result = run("train", cwd=tmp_path)
    assert result.stderr.startswith("nudgenet: digits: 1,437 train / 360 held out")
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 32 and lines[0].startswith("Epoch 1/30")  # a line per epoch, off a tty
    held_out = re.fullmatch(r"held-out: loss (\S+), accuracy (\S+)", lines[-2])
    assert held_out and float(held_out[2]) >= 0.95
    assert lines[-1] == "model saved to nudgenet-digits.safetensors"
    scores = last_json(run("evaluate", "nudgenet-digits.safetensors", "--json", cwd=tmp_path))
    assert f"{scores['loss']:.4f}" == held_out[1] and f"{scores['accuracy']:.4f}" == held_out[2]


def test_train_dtype_float64_trains_and_saves_a_float64_network(tmp_path):
    result = run("train", "--epochs", "1", "--dtype", "float64", "--json", cwd=tmp_path)
    assert last_json(result)["test_accuracy"] > 0.8
    model = ng.load(tmp_path / "nudgenet-digits.safetensors")
    assert {p.data.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    scores = last_json(run("evaluate", "nudgenet-digits.safetensors", "--json", cwd=tmp_path))
    assert scores["accuracy"] == last_json(result)["test_accuracy"]


def test_an_unusable_output_path_fails_before_training(tmp_path):
    """Every file and folder train writes is checked before training (--plot, --log-csv,
    --tensorboard and --checkpoint failed after it, with a raw OSError or none at all)."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("")
    for options, problem in (
        (("-o", "folder"), "--output folder is a folder; expected a model file path such as fol"),
        (("-o", "file/m.safetensors"), "--output file/m.safetensors: file is a file, not a folder"),
        (("-o", "/proc/m.safetensors"), "--output /proc/m.safetensors: cannot write in /proc ("),
        (("--plot", "file/c.png"), "--plot file/c.png: file is a file, not a folder"),
        (("--plot", "/proc/c.png"), "--plot /proc/c.png: cannot write in /proc ("),
        (("--log-csv", "file/l.csv"), "--log-csv file/l.csv: file is a file, not a folder"),
        (("--tensorboard", "file/tb"), "--tensorboard file/tb: file is a file, not a folder"),
        (("--checkpoint", "file"), "--checkpoint file is a file; expected a folder (made if"),
        (("--checkpoint", "/proc/runs/1"), "--checkpoint /proc/runs/1: cannot write in /proc ("),
    ):
        result = run("train", *options, cwd=tmp_path, check=False)
        assert problem in _error(result) and result.returncode == 1, (options, result.stderr)
        assert result.stdout == ""  # no epoch was trained
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]  # nothing written


def test_a_finished_runs_read_only_checkpoint_folder_resumes_one_with_training_left_is_refused(
    tmp_path, monkeypatch, capsys
):
    """The command line refused a finished run's read-only --checkpoint folder, which fit
    resumes; one with training left is refused before training, by fit, in one line."""
    import os
    import tempfile

    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    command = ["train", "--layers", "8", "--epochs", "2", "-q", "--checkpoint", "ck",
               "--log-csv", "log.csv"]  # fmt: skip
    assert main([*command, "-o", "m.safetensors"]) == 0
    log = (tmp_path / "log.csv").read_text()
    folder = tmp_path / "ck"
    real_access, real_temporary = os.access, tempfile.TemporaryFile

    def access(path, mode, **kw):  # as for a user who may not write there (root may)
        unwritable = Path(path).resolve() == folder and mode == os.W_OK
        return False if unwritable else real_access(path, mode, **kw)

    def temporary(*args, dir=None, **kw):
        if dir is not None and Path(dir).resolve() == folder:
            raise PermissionError(13, "Permission denied")
        return real_temporary(*args, dir=dir, **kw)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(tempfile, "TemporaryFile", temporary)
    capsys.readouterr()
    assert main([*command, "-o", "again.safetensors"]) == 0  # finished: nothing to write there
    command[command.index("2")] = "3"
    assert main([*command, "-o", "more.safetensors"]) == 1
    assert "ck is read-only: training would fail at its first checkpoint" in (
        capsys.readouterr().err)  # fmt: skip
    assert not (tmp_path / "more.safetensors").exists()
    assert (tmp_path / "log.csv").read_text() == log  # refused before the CSV log started afresh


def test_a_checkpoint_of_another_data_set_is_refused_naming_the_data_and_restart(tmp_path):
    """It named a Standardize layer's mean (architecture.layers[0].mean[0]) and the Python
    spelling restart=True to a command-line user."""
    x, y = ng.datasets.spirals(300, classes=3, seed=0)
    np.savetxt(tmp_path / "a.csv", np.column_stack([x, y]), delimiter=",", header="a,b,label",
               comments="")  # fmt: skip
    np.savetxt(tmp_path / "b.csv", np.column_stack([x, y])[:200], delimiter=",",
               header="a,b,label", comments="")  # fmt: skip
    train = ("train", "--checkpoint", "ck", "--epochs", "1", "-q", "--overwrite")
    run(*train, "--dataset", "a.csv", cwd=tmp_path)
    refused = run(*train, "--dataset", "b.csv", cwd=tmp_path, check=False)
    assert refused.returncode == 1
    assert _error(refused) == (
        f"nudgenet train: error: checkpoint {Path('ck', 'checkpoint-000001-0000000.safetensors')} "
        "is of another run: the data differ: x of shape (216, 2) there, (144, 2) here (another "
        "data set, or another split, dtype or weighting of it); use another directory, or "
        "--restart to start over"
    )


def test_predict_top_must_be_positive(digits_model, tmp_path):
    folder, summary = digits_model
    np.save(tmp_path / "rows.npy", ng.datasets.digits()[0][:2])
    model = folder / summary["model_path"]
    result = run("predict", model, "rows.npy", "--top", "0", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "--top: expected a whole number >= 1, got '0'" in (
        _error(result)
    )


def test_train_json_reports_the_losses_of_the_epoch_early_stopping_kept(
    tmp_path, monkeypatch, capsys
):
    from nudgenet.cli import main
    from nudgenet.cli import train as train_command

    histories = []

    def recording_fit(*args, **kwargs):
        histories.append(ng.fit(*args, **kwargs))
        return histories[-1]

    monkeypatch.setattr(train_command, "fit", recording_fit)
    monkeypatch.chdir(tmp_path)
    x, y = ng.datasets.spirals(200, classes=3, seed=0)
    np.savez("spirals.npz", x=x, y=y)
    command = ["train", "--dataset", "spirals.npz", "--optimizer", "adam", "--lr", "0.03"]
    command += ["--epochs", "100", "--early-stopping", "3", "--json", "-q"]
    assert main(command) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    history = histories[0]
    best = int(np.argmin(history["val_loss"]))  # the epoch EarlyStopping restored
    assert history.stop_reason == "early_stopping" and best < len(history) - 1
    assert summary["train_loss"] == history["loss"][best]
    assert summary["val_loss"] == history["val_loss"][best] != history["val_loss"][-1]
    assert summary["kept_epoch"] == best + 1 and summary["epochs"] == len(history)
    assert summary["stop_reason"] == "early_stopping"
    layer = next(iter(summary["grad_norms"]))
    assert summary["grad_norms"][layer] == history[f"grad_norm/{layer}"][best]
    assert main([*command[:-2], "-o", "text.safetensors", "--overwrite"]) == 0  # text output
    said = capsys.readouterr().err
    assert f"early stopping after epoch {len(history)}: val_loss did not improve for 3 epochs; " \
           f"keeping epoch {best + 1}, the best" in said  # fmt: skip


def test_a_one_logit_model_predicts_both_classes_probabilities(tmp_path):
    train = ("train", "--dataset", "xor", "--loss", "bce_with_logits", "--layers", "8")
    run(*train, "--lr", "0.5", "--epochs", "200", "-q", "-o", "xor.safetensors", cwd=tmp_path)
    x, y = ng.datasets.xor()
    np.save(tmp_path / "xor.npy", x)
    out = last_json(run("predict", "xor.safetensors", "xor.npy", "--json", cwd=tmp_path))
    logits = ng.predict(ng.load(tmp_path / "xor.safetensors"), x)[:, 0].astype(np.float64)
    p = np.array(out["probabilities"])
    assert p.shape == (4, 2)  # P(0) = 1 − σ(z), P(1) = σ(z)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-logits)), atol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
    assert out["classes"] == (logits > 0).astype(int).tolist() == y.tolist()
    assert out["predictions"] == [str(c) for c in y]
    text = run("predict", "xor.safetensors", "xor.npy", cwd=tmp_path).stdout.splitlines()
    assert text[1].startswith("row 1: 1  (1: ") and text[1].endswith(", 0: 0.000)")
    scores = last_json(run("evaluate", "xor.safetensors", "--json", cwd=tmp_path))
    assert scores["rows"] == 4 and scores["accuracy"] == 1.0


def test_a_model_of_one_class_predicts_it_for_every_row(tmp_path, capsys):
    """As an older nudgenet train saved a model of labels of one class (one column, the softmax
    of one score): predict raised an IndexError for rows scored above 0.5."""
    from nudgenet.cli import main

    model = ng.Linear(3, 1, seed=0)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    assert (ng.predict(model, x) > 0.5).any()
    metadata = {"task": "classification", "loss": "CrossEntropyLoss", "class_names": ["only"]}
    ng.save(model, tmp_path / "one.safetensors", metadata=metadata)
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", str(tmp_path / "one.safetensors"), str(tmp_path / "x.npy"),
                 "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["predictions"] == ["only"] * 8 and out["probabilities"] == [[1.0]] * 8


def test_a_data_set_is_one_record_in_the_registry(tmp_path, monkeypatch, capsys):
    from nudgenet import recipes
    from nudgenet.cli import main

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    record = recipes.DatasetRecord("halves", lambda source: (x, y), "classification")
    monkeypatch.setitem(recipes.DATASETS, "halves", record)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "halves", "--epochs", "5", "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["dataset"] == "halves" and summary["task"] == "classification"
    assert isinstance(ng.load(tmp_path / "nudgenet-halves.safetensors")[0], ng.Standardize)
    assert main(["evaluate", "nudgenet-halves.safetensors", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores["rows"] == 12 and scores["loss"] == pytest.approx(summary["test_loss"], 1e-6)


def test_held_out_reads_the_command_line_without_changing_it(digits_model):
    import argparse

    from nudgenet.cli.scoring_rows import held_out

    folder, summary = digits_model
    args = argparse.Namespace(dataset=None, labels=None, data_dir=None, label_column=None)
    data, loss_fn, y = held_out(args, ng.load(folder / summary["model_path"]))
    assert vars(args) == dict(dataset=None, labels=None, data_dir=None, label_column=None)
    assert data.name == "digits" and data.scope == "held-out" and len(y) == 360
    assert isinstance(loss_fn, ng.CrossEntropyLoss)


def test_the_training_record_is_written_and_read_in_one_place(digits_model):
    from nudgenet.recipes import DEFAULT_SAMPLES, DEFAULT_TEST_SIZE, TrainingRecord

    folder, summary = digits_model
    model = ng.load(folder / summary["model_path"])
    record = TrainingRecord.of(model)
    assert record.to_dict() == model.metadata  # every key train wrote, and no other
    assert record.dataset == "digits" and record.class_names == tuple("0123456789")
    assert TrainingRecord.from_dict(record.to_dict()) == record
    old = TrainingRecord.from_dict({"dataset": "digits", "someone_elses_key": 1})
    assert (old.test_size, old.samples, old.seed) == (DEFAULT_TEST_SIZE, DEFAULT_SAMPLES, 0)
    assert (old.task, old.loss, old.class_names) == (None, None, ())  # not recorded: not guessed


def test_a_model_file_without_a_task_and_loss_is_refused_not_guessed(tmp_path):
    """Every ``nudgenet train`` wrote the task and the loss (so did ``est.save`` from this
    version on): a file without them was saved by ``ng.save`` with metadata of its own, and what
    its outputs mean (classes? of which loss? values?) would be a guess."""
    model = ng.Sequential(ng.Linear(64, 10, seed=0))
    ng.save(model, tmp_path / "plain.safetensors", metadata={"class_names": list("0123456789")})
    np.save(tmp_path / "rows.npy", np.zeros((2, 64), np.float32))
    for command in (["predict", "plain.safetensors", "rows.npy"],
                    ["evaluate", "plain.safetensors", "--dataset", "digits"],
                    ["explain", "plain.safetensors", "--dataset", "digits"],
                    ["gradcheck", "plain.safetensors"]):  # fmt: skip
        result = run(*command, cwd=tmp_path, check=False)
        assert result.returncode == 1 and result.stdout == ""
        assert _error(result).startswith(
            f"nudgenet {command[0]}: error: the model file records no task and no loss; "
            "expected both, as nudgenet train and est.save write them"
        )
    ng.save(model, tmp_path / "recorded.safetensors",
            metadata={"task": "classification", "loss": "CrossEntropyLoss"})  # fmt: skip
    assert run("predict", "recorded.safetensors", "rows.npy", cwd=tmp_path).stdout.startswith(
        "row 0: "
    )
    exported = run("export", "plain.safetensors", "plain.onnx", "-q", cwd=tmp_path)
    assert exported.returncode == 0  # the output alone: nothing is guessed


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"task": "regresion", "loss": "MSELoss"},
         "records the task 'regresion'; expected one of 'classification', 'regression'"),
        ({"task": "regression", "loss": "CrossEntropyLoss"},
         "records the task 'regression' but the loss CrossEntropyLoss, which trains a "
         "classification"),
        ({"task": "classification", "loss": "CrossEntropyLoss", "class_names": ["a", "b"]},
         "names 2 classes but the model gives 3; expected one name per class"),
    ],
)  # fmt: skip
def test_predict_refuses_metadata_that_contradicts_itself_or_the_model(metadata, message, tmp_path):
    """Hand-written metadata: a task nudgenet does not know, a loss of the other task, class
    names that do not fit the outputs; each printed raw logits or half-named classes, exit 0."""
    ng.save(ng.Sequential(ng.Linear(4, 3, seed=0)), tmp_path / "m.safetensors", metadata=metadata)
    np.save(tmp_path / "rows.npy", np.zeros((2, 4), np.float32))
    result = run("predict", "m.safetensors", "rows.npy", cwd=tmp_path, check=False)
    assert result.returncode == 1 and result.stdout == "" and message in _error(result)


def test_train_json_writes_the_json_alone_to_stdout(tmp_path, monkeypatch, capsys):
    """``nudgenet train --json | jq`` failed: the epoch lines came first on stdout."""
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "xor", "--epochs", "2", "-v", "--json", "-o", "m.st"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["epochs"] == 2 and out.count("\n") == 1
    assert "Epoch 2/2 - " in err


def test_train_and_its_options_need_no_extra_installed(tmp_path):
    """nudgenet train imported the scikit-learn package (a helper of its weights), which needs
    the sklearn extra: the command failed where only the core was installed."""
    table = "a,b,w,label\n" + "".join(f"{i % 7},{i % 3},{1 + i % 2},{i % 2}\n" for i in range(60))
    (tmp_path / "t.csv").write_text(table)
    code = ("import sys\n"
            "for name in ('sklearn', 'scipy', 'matplotlib', 'onnx', 'tensorboardX', 'mpi4py'):\n"
            "    sys.modules[name] = None\n"
            "from nudgenet.cli import main\n"
            "sys.exit(main(['train', '--dataset', 't.csv', '--weight-column', 'w', '--epochs',"
            " '1', '-q', '-o', 'm.st']))")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, env=env, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
