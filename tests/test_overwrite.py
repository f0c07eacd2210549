"""`nudgenet train` never replaces good work: a worse run, or a file that is not a nudgenet
model, is kept unless --overwrite (issue 11)."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.recipes import TrainingRecord

REPO = Path(__file__).resolve().parents[1]
MODEL = "nudgenet-digits.safetensors"
WORSE = ("--layers", "2", "--epochs", "1")  # the same held-out rows, a far weaker model


def train(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "nudgenet", "train", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip


def summary(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_worse_run_does_not_replace_a_better_model(tmp_path):
    good = summary(train("--json", "-q", cwd=tmp_path))
    assert good["test_accuracy"] >= 0.95
    before = (tmp_path / MODEL).read_bytes()
    worse = train(*WORSE, "--json", "-q", cwd=tmp_path)
    assert (tmp_path / MODEL).read_bytes() == before and worse.returncode == 4
    result = summary(worse)
    assert good["saved"] is True and result["saved"] is False
    assert result["test_accuracy"] < good["test_accuracy"] and result["model_path"] == MODEL
    assert worse.stderr == (
        f"nudgenet: kept {MODEL}: its held-out accuracy {good['test_accuracy']:.4g} beats this "
        f"run's {result['test_accuracy']:.4g}; this run's model is not saved (--overwrite "
        "replaces it)\n"
    )
    assert (tmp_path / MODEL).read_bytes() == before
    text = train(*WORSE, "-q", cwd=tmp_path)  # without --json: no "model saved to" line
    assert text.returncode == 4 and text.stdout.startswith("held-out: ")
    assert "model saved" not in text.stdout and (tmp_path / MODEL).read_bytes() == before
    replaced = train(*WORSE, "--overwrite", "-q", cwd=tmp_path)  # asked for: replaced
    assert replaced.returncode == 0 and replaced.stdout.endswith(f"model saved to {MODEL}\n")
    record = TrainingRecord.of(ng.load(tmp_path / MODEL))
    assert record.score == pytest.approx(result["test_accuracy"])
    better = train("-q", cwd=tmp_path)  # a better run replaces a worse model unasked
    assert better.returncode == 0 and better.stderr.count("\n") == 0  # no "kept" line
    assert TrainingRecord.of(ng.load(tmp_path / MODEL)).score == good["test_accuracy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL]  # atomic: no temporary files


def test_a_file_that_is_not_a_nudgenet_model_is_never_replaced_unasked(tmp_path):
    from safetensors.numpy import save_file

    (tmp_path / "notes.txt").write_text("my notes\n")
    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "other.safetensors"))
    other = (tmp_path / "other.safetensors").read_bytes()
    for name in ("notes.txt", "other.safetensors"):
        result = train("-o", name, cwd=tmp_path)
        assert result.returncode == 1 and result.stdout == ""  # refused before training
        assert result.stderr == (
            f"nudgenet train: error: --output {name} exists and is not a nudgenet model; pass "
            "--overwrite to replace it, or choose another --output\n"
        )
    assert (tmp_path / "notes.txt").read_text() == "my notes\n"
    assert (tmp_path / "other.safetensors").read_bytes() == other
    assert train("-o", "notes.txt", "--overwrite", "-q", cwd=tmp_path).returncode == 0
    assert ng.load(tmp_path / "notes.txt").metadata["dataset"] == "digits"


def test_a_model_that_cannot_be_compared_is_kept_before_training(tmp_path):
    assert train("-q", cwd=tmp_path).returncode == 0
    before = (tmp_path / MODEL).read_bytes()
    result = train("--seed", "1", cwd=tmp_path)  # another split: scores do not compare
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"nudgenet train: error: --output {MODEL} holds a model this run cannot be compared "
        "with (other held-out rows: seed 0, this run's 1); pass --overwrite to replace it, or "
        "choose another --output\n"
    )
    ng.save(ng.Sequential(ng.Linear(64, 10)), tmp_path / "plain.safetensors")  # no record
    plain = train("-o", "plain.safetensors", cwd=tmp_path)
    assert plain.returncode == 1 and "(it records no held-out score)" in plain.stderr
    assert (tmp_path / MODEL).read_bytes() == before
    assert train("--seed", "1", "--overwrite", "-q", cwd=tmp_path).returncode == 0
    assert TrainingRecord.of(ng.load(tmp_path / MODEL)).seed == 1


def test_a_kept_model_s_score_is_shown_apart_from_the_run_s(tmp_path, capsys):
    """The line saying why a model is kept shows the two scores to as many digits as differ."""
    from nudgenet.cli.output import save_unless_worse

    prices = TrainingRecord(dataset="black-scholes", task="regression", loss="MSELoss")
    model = ng.Sequential(ng.Linear(1, 1, seed=0))
    ng.save(model, tmp_path / "m.st", prices.scored({"rmse": 1.48597}).to_dict())
    before = (tmp_path / "m.st").read_bytes()
    kept = save_unless_worse(model, tmp_path / "m.st", prices.scored({"rmse": 1.48612}), False)
    assert kept is None and (tmp_path / "m.st").read_bytes() == before
    assert f"kept {tmp_path / 'm.st'}: its held-out rmse 1.486 beats this run's 1.4861;" in (
        capsys.readouterr().err
    )  # it was "1.486 beats this run's 1.486"


def test_a_file_saved_at_the_output_during_training_is_judged_as_the_run_ends(
    tmp_path, monkeypatch, capsys
):
    """The file at --output was read before training only: a better model saved there meanwhile
    (by another run aimed at it) was replaced by this worse run's, and so was a file that is no
    model."""
    from nudgenet.cli import main
    from nudgenet.cli import train as command

    assert train("-q", "-o", "better.safetensors", cwd=tmp_path).returncode == 0
    better = (tmp_path / "better.safetensors").read_bytes()
    fit = command._fit

    def meanwhile(content: bytes):
        def fit_then_another_run_saves(*args, **kwargs):
            history = fit(*args, **kwargs)
            (tmp_path / MODEL).write_bytes(content)
            return history

        return fit_then_another_run_saves

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(command, "_fit", meanwhile(better))
    assert main(["train", *WORSE, "-q"]) == 4  # no file before training: it was saved
    assert (tmp_path / MODEL).read_bytes() == better
    assert f"nudgenet: kept {MODEL}: its held-out accuracy" in capsys.readouterr().err
    monkeypatch.setattr(command, "_fit", meanwhile(b"my notes\n"))
    assert main(["train", *WORSE, "-q", "--json"]) == 4  # --output kept: `&& predict` stops
    assert (tmp_path / MODEL).read_bytes() == b"my notes\n"
    out = capsys.readouterr()
    beside = "nudgenet-digits-new.safetensors"
    assert out.err == (
        f"nudgenet: {MODEL} changed during training and this run cannot be compared with it (it "
        f"is no nudgenet model): kept it; this run's model is saved to {beside}\n"
    )
    result = json.loads(out.out.strip().splitlines()[-1])
    assert result["saved"] and result["model_path"] == beside
    assert ng.load(tmp_path / beside).metadata["dataset"] == "digits"


def test_the_record_keeps_the_held_out_score_and_compares_by_the_tasks_metric():
    classes = {"task": "classification", "loss": "CrossEntropyLoss"}  # train records both
    digits = TrainingRecord(dataset="digits", score_metric="accuracy", score=0.95, **classes)
    assert digits.scored({"loss": 0.2, "accuracy": 0.97}).score == 0.97
    assert digits.scored({"accuracy": 0.97}).beats(digits)
    assert not digits.beats(digits) and not digits.scored({"accuracy": 0.9}).beats(digits)
    assert TrainingRecord.from_dict(digits.to_dict()) == digits
    assert TrainingRecord.from_dict({"dataset": "digits"}).score is None  # an older file
    prices = TrainingRecord(dataset="black-scholes", task="regression", loss="MSELoss")
    low, high = prices.scored({"rmse": 0.01, "mae": 0.5}), prices.scored({"rmse": 0.02})
    assert low.score_metric == "rmse" and low.beats(high) and not high.beats(low)
    # scores within rounding tie: the same run on 3 ranks scored 1.48597390 against 1.48597350
    # on one process and was refused as worse, "its held-out rmse 1.486 beats this run's 1.486"
    one, three = prices.scored({"rmse": 1.48597350}), prices.scored({"rmse": 1.48597390})
    assert not one.beats(three) and not three.beats(one)
    assert not digits.scored({"accuracy": 0.9500001}).beats(digits)
    assert low.not_comparable(high) is None
    assert digits.not_comparable(TrainingRecord(dataset="digits", **classes)) == (
        "it records no held-out score"
    )
    assert "other held-out rows: dataset 'black-scholes', this run's 'digits'; task " in (
        digits.not_comparable(low)
    )
    renamed = TrainingRecord(dataset="digits", score_metric="f1", score=0.9, **classes)
    assert digits.not_comparable(renamed) == "it is scored by f1, this run by accuracy"


def test_a_tie_of_scores_is_decided_by_the_held_out_loss():
    """Accuracy moves in steps of 1/60 on 60 held-out rows: a 3-epoch run tying a 20-epoch
    model's accuracy replaced it, its loss 0.19 against 0.075."""
    classes = {"task": "classification", "loss": "CrossEntropyLoss", "dataset": "digits"}
    trained = TrainingRecord(**classes)
    good = trained.scored({"loss": 0.075, "accuracy": 0.9833})
    hasty = trained.scored({"loss": 0.1939, "accuracy": 0.9833})
    assert good.held_out_loss == 0.075 and good.ties(hasty)
    assert good.beats(hasty) and not hasty.beats(good)
    assert not good.beats(trained.scored({"loss": 0.0750000001, "accuracy": 0.9833}))  # rounding
    assert hasty.scored({"loss": 0.3, "accuracy": 0.99}).beats(good)  # the score comes first
    older = TrainingRecord(**classes, score_metric="accuracy", score=0.9833)  # no loss recorded
    assert not older.beats(hasty) and not hasty.beats(older)  # a tie: at least as well


def test_a_replaced_model_is_named_with_both_scores_and_a_tie_lost_on_loss_is_kept(tmp_path):
    options = ("--dataset", "spirals", "--samples", "300", "--epochs", "2", "-q")
    first = train(*options, "--json", cwd=tmp_path)
    path = tmp_path / "nudgenet-spirals.safetensors"
    again = train(*options, cwd=tmp_path)  # the same run: a tie of score and loss, replaced
    record = TrainingRecord.of(ng.load(path))
    scores = f"accuracy {record.score:.4f}, loss {record.held_out_loss:.4f}"
    assert again.returncode == 0 and again.stdout.endswith(
        f"model saved to {path.name}, replacing the model there (held-out {scores}; this run's "
        f"{scores})\n"
    )
    assert summary(first)["replaced"] is None
    model = ng.load(path)
    better = replace(record, held_out_loss=record.held_out_loss / 2)  # the same accuracy
    ng.save(model, path, better.to_dict())
    before = path.read_bytes()
    tied = train(*options, "--json", cwd=tmp_path)
    assert tied.returncode == 4 and path.read_bytes() == before and not summary(tied)["saved"]
    theirs, ours = f"{better.held_out_loss:.4g}", f"{record.held_out_loss:.4g}"
    assert tied.stderr == (
        f"nudgenet: kept {path.name}: its held-out accuracy {record.score:.4g} ties this run's, "
        f"and its loss {theirs} beats this run's {ours}; this run's model is not saved "
        "(--overwrite replaces it)\n"
    )
    worse = replace(record, held_out_loss=record.held_out_loss * 2)
    ng.save(model, path, worse.to_dict())
    replaced = summary(train(*options, "--json", cwd=tmp_path))
    assert replaced["saved"] and replaced["replaced"] == {
        "metric": "accuracy", "score": worse.score, "loss": worse.held_out_loss
    }


def test_a_regression_model_keeps_its_rmse_and_a_worse_run_is_not_saved(tmp_path):
    options = ("--dataset", "black-scholes", "--samples", "2000", "--layers", "16", "-q")
    good = summary(train(*options, "--epochs", "20", "--json", cwd=tmp_path))
    model = ng.load(tmp_path / "nudgenet-black-scholes.safetensors")
    assert TrainingRecord.of(model).score_metric == "rmse"
    assert TrainingRecord.of(model).score == good["test_rmse"]
    worse = train(*options, "--epochs", "1", "--json", cwd=tmp_path)
    assert worse.returncode == 4 and summary(worse)["test_rmse"] > good["test_rmse"]
    assert "its held-out rmse" in worse.stderr


@pytest.mark.parametrize(("options", "said"), [
    (["-o", "run.png", "--plot", "run.png"], "--output and --plot name the same path, run.png"),
    (["--plot", "c.png", "--log-csv", "c-gradients.png"],
     "--plot's gradients figure and --log-csv name the same path, c-gradients.png"),
    (["-o", "cz", "--checkpoint", "cz"], "--output and --checkpoint name the same path, cz"),
    (["--tensorboard", MODEL], f"the model (the default --output) and --tensorboard name the "
                               f"same path, {MODEL}"),
    (["--plot", "run", "-o", "run.png"], "--output and --plot name the same path, run.png"),
])  # fmt: skip
def test_two_outputs_naming_one_path_are_refused_before_anything_runs(
    options, said, tmp_path, monkeypatch, capsys
):
    """-o run.png --plot run.png trained, said "model saved to run.png" and left the figure
    there; --checkpoint cz -o cz trained the whole run, then failed to save."""
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", *options]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == (
        f"nudgenet train: error: {said}; each writes its own: name another for one of them (see "
        "nudgenet train --help)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_data_file_as_an_output_is_refused_even_with_overwrite(tmp_path, monkeypatch, capsys):
    """-o d.csv --overwrite replaced the training data with the model."""
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    data = "a,b,y\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(40))
    (tmp_path / "d.csv").write_text(data)
    assert main(["train", "--dataset", "d.csv", "-o", "./d.csv", "--overwrite", "-q"]) == 2
    assert capsys.readouterr().err == (
        "nudgenet train: error: --dataset and --output name the same path, d.csv; --output would "
        "replace the data it reads: name another for one of them (see nudgenet train "
        "--help)\n"
    )
    assert (tmp_path / "d.csv").read_text() == data


def test_a_plot_without_a_suffix_is_the_png_matplotlib_writes(tmp_path, monkeypatch, capsys):
    """--plot run wrote run.png, which --json's figures called "run"."""
    from nudgenet.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "xor", "--epochs", "2", "-q", "--plot", "run",
                 "--json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["figures"] == ["run.png", "run-gradients.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "nudgenet-xor.safetensors", "run-gradients.png", "run.png"
    ]
    (tmp_path / "results").mkdir()
    for folder in ("results", "results/", "..", "newdir/", "newdir/.", "."):  # no figure
        with pytest.raises(SystemExit) as usage:  # (not results.png beside it)
            main(["train", "--dataset", "xor", "-q", "--plot", folder, "-o", "x.st"])
        assert usage.value.code == 2 and f"got the folder {folder!r}" in capsys.readouterr().err
    assert not (tmp_path / "results.png").exists() and not (tmp_path / "x.st").exists()


def test_an_output_folder_that_cannot_be_locked_still_gets_the_model(tmp_path, monkeypatch):
    """The lock on --output's folder (so two runs ending at once compare one after the other)
    raised where it cannot be had (no flock on some network file systems): the trained model
    was lost."""
    import fcntl

    from nudgenet.cli import main

    def no_locks(*args):
        raise OSError(37, "No locks available")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fcntl, "flock", no_locks)
    assert main(["train", "--dataset", "xor", "--epochs", "2", "-q", "-o",
                 "out/m.safetensors"]) == 0  # fmt: skip
    assert ng.load(tmp_path / "out" / "m.safetensors").metadata["dataset"] == "xor"
