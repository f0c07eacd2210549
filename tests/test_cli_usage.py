"""The command line's contract with its user: every usage mistake exits 2 with one line naming
the option, what it expected and what came; -q on every command; --version; help that speaks
of epochs only where a command trains."""

import pytest

from nudgenet import __version__, cli


def outcome(argv, capsys):
    """``(exit code, stdout, stderr)`` of ``nudgenet ARGV``, run in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as stop:  # argparse's own exits: --help, --version, usage errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("usage")
    path = folder / "xor.safetensors"
    assert cli.main(["train", "--dataset", "xor", "--epochs", "2", "-q", "-o", str(path)]) == 0
    return path


# (arguments, the option named, what it expects) for a bad value of every checked option
MODEL = "MODEL"  # replaced by the fixture's model file
BAD_VALUES = [
    (["train", "--lr", "-0.1"], "--lr", "expected a finite number > 0, got '-0.1'"),
    (["train", "--lr", "0"], "--lr", "expected a finite number > 0, got '0'"),
    (["train", "--lr", "nan"], "--lr", "expected a finite number > 0, got 'nan'"),
    (["train", "--lr", "inf"], "--lr", "expected a finite number > 0, got 'inf'"),
    (["train", "--layers", "16,abc"], "--layers", "expected hidden layer sizes like 64,32"),
    (["train", "--layers", "16,0"], "--layers", "(whole numbers >= 1), got '16,0'"),
    (["train", "--epochs", "0"], "--epochs", "expected a whole number >= 1, got '0'"),
    (["train", "--batch-size", "-3"], "--batch-size", "expected a whole number >= 1, got '-3'"),
    (["train", "--samples", "1.5"], "--samples", "expected a whole number >= 1, got '1.5'"),
    (["train", "--momentum", "1"], "--momentum", "0 or a fraction between 0 and 1, got '1'"),
    (["train", "--class-weight", "yes:1,yes:3"], "--class-weight",
     "expected each class once, got 'yes:1,yes:3', which weighs 'yes' twice"),
    (["train", "--test-size", "0"], "--test-size", "a fraction between 0 and 1, got '0'"),
    (["train", "--validation-split", "-0.1"], "--validation-split", "got '-0.1'"),
    (["train", "--early-stopping", "-1"], "--early-stopping", "a whole number >= 0, got '-1'"),
    (["train", "--seed", "-1"], "--seed", "expected a whole number >= 0, got '-1'"),
    (["train", "--plot", "curves.txt"], "--plot", "expected one of the suffixes"),
    (["train", "--plot", "newdir/"], "--plot", "expected a figure path such as "
                                               "newdir/curves.png, got the folder 'newdir/'"),
    (["train", "--tensorboard", __file__], "--tensorboard", "expected a folder for the logs, got"),
    (["train", "--log-csv", ""], "--log-csv", "expected a file path, got ''"),
    (["train", "--log-csv", "logs/"], "--log-csv", "expected a file path, got 'logs/'"),
    (["export", MODEL, "m.onnx", "--dtype", "float16"], "--dtype", "invalid choice: 'float16'"),
    (["explain", MODEL, "--eps", "0"], "--eps", "expected a finite number > 0, got '0'"),
    (["explain", MODEL, "--top", "0"], "--top", "expected a whole number >= 1, got '0'"),
    (["explain", MODEL, "--out", "x.jpgg"], "--out", "got '.jpgg'"),
    (["predict", MODEL, "rows.npy", "--top", "0"], "--top", "a whole number >= 1, got '0'"),
    (["gradcheck", "2-3-2", "--seed", "-5"], "--seed", "a whole number >= 0, got '-5'"),
    (["gradcheck", "2-3-2", "--rows", "0"], "--rows", "a whole number >= 1, got '0'"),
]


@pytest.mark.parametrize(("argv", "option", "expected"), BAD_VALUES, ids=lambda v: str(v))
def test_a_bad_option_value_exits_2_with_one_line_naming_it(
    argv, option, expected, model, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # nothing is trained or written
    code, out, err = outcome([model if a == MODEL else a for a in argv], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"argument {option}: " in err and expected in err
    assert err.startswith(f"nudgenet {argv[0]}: error: ")
    assert out == "" and list(tmp_path.iterdir()) == []


def test_options_that_contradict_each_other_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = outcome(["train", "--early-stopping", "3", "--validation-split", "0"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--early-stopping watches val_loss: it needs --validation-split > 0" in err
    assert "(see nudgenet train --help)" in err and list(tmp_path.iterdir()) == []
    code, _, err = outcome(["train", "--restart"], capsys)
    assert code == 2 and "--restart starts a --checkpoint folder's run over" in err
    code, _, err = outcome(["train", "--optimizer", "adam", "--momentum", "0.5"], capsys)
    assert code == 2 and list(tmp_path.iterdir()) == []  # it was ignored, unsaid
    assert "--momentum is for sgd/rmsprop; --optimizer adam takes none" in err
    assert outcome(["train", "--optimizer", "adam", "--epochs", "1", "-q"], capsys)[0] == 0


@pytest.mark.parametrize(("argv", "said"), [
    (["train", "--resume", "ck"], "nudgenet train: error: unrecognized arguments: --resume ck; to "
     "resume a run, pass its folder: --checkpoint DIR (see nudgenet train --help)\n"),
    (["train", "--resume=ck"], "nudgenet train: error: unrecognized arguments: --resume=ck; to "
     "resume a run, pass its folder: --checkpoint DIR (see nudgenet train --help)\n"),
    (["predict", MODEL, "rows.csv", "--output", "p.csv"], "nudgenet predict: error: "
     "unrecognized arguments: --output p.csv (see nudgenet predict --help)\n"),
    (["evaluate", MODEL, "--resume", "ck"], "nudgenet evaluate: error: unrecognized arguments: "
     "--resume ck (see nudgenet evaluate --help)\n"),  # no --checkpoint to point to
])  # fmt: skip
def test_an_unknown_option_names_its_command_s_help(argv, said, model, capsys):
    """It was "nudgenet: error: unrecognized arguments: --resume ck (see nudgenet --help)"."""
    argv = [model if a == MODEL else a for a in argv]
    assert outcome(argv, capsys) == (2, "", said)


def test_predict_with_its_arguments_swapped_says_they_may_be(model, tmp_path, capsys):
    (tmp_path / "rows.csv").write_text("a,b\n0,1\n")
    code, out, err = outcome(["predict", tmp_path / "rows.csv", model], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.endswith(f"; {model} is a model file: are the two arguments swapped? (the model "
                        "comes first: nudgenet predict model input)\n")  # fmt: skip
    code, _, err = outcome(["predict", tmp_path / "rows.csv", tmp_path / "rows.csv"], capsys)
    assert code == 1 and "swapped" not in err


def test_version(capsys):
    code, out, _ = outcome(["--version"], capsys)
    assert code == 0 and out.strip() == f"nudgenet {__version__}"
    assert __version__.count(".") == 2


def test_every_command_takes_quiet_and_still_prints_its_results(model, tmp_path, capsys):
    import numpy as np

    rows = tmp_path / "rows.npy"
    np.save(rows, np.array([[0.0, 1.0], [1.0, 1.0]], dtype=np.float32))
    commands = {
        "evaluate": [model],
        "predict": [model, rows],
        "explain": [model, "--index", "1"],
        "gradcheck": [model],
    }
    for command, args in commands.items():
        for quiet in ("-q", "--quiet"):
            code, out, err = outcome([command, *args, quiet], capsys)
            assert code == 0, (command, err)
            assert err == "" and out.strip(), command
        code, out, err = outcome([command, *args, "-q", "--json"], capsys)
        assert code == 0 and err == "" and out.strip().splitlines()[-1].startswith("{")


@pytest.mark.parametrize("command", ["evaluate", "predict", "explain", "gradcheck"])
def test_help_of_commands_that_do_not_train_says_nothing_of_epochs(command, capsys):
    code, text, _ = outcome([command, "--help"], capsys)
    assert code == 0 and "--quiet" in text
    for word in ("epoch", "progress", "--verbose"):
        assert word not in text.lower(), f"nudgenet {command} --help mentions {word!r}"


def test_train_help_keeps_its_progress_options(capsys):
    code, text, _ = outcome(["train", "--help"], capsys)
    assert code == 0 and "--verbose" in text and "--quiet" in text and "epoch" in text


def test_train_help_says_a_run_that_diverged_or_learnt_nothing_saves_no_model(capsys):
    """Review 80, finding 7: only the README said that such a run saves no model (exit 1)."""
    code, text, _ = outcome(["train", "--help"], capsys)
    flat = " ".join(text.split())
    assert code == 0 and "A run that diverges" in flat and "whose model learnt nothing (it " \
        "predicts the same for every training row) saves no model" in flat
    assert "exit code 1" in flat


def test_train_help_says_the_batch_is_the_global_one_under_mpiexec(capsys):
    """A Horovod user scales the batch and the rate with the ranks; here neither changes."""
    code, text, _ = outcome(["train", "--help"], capsys)
    flat = " ".join(text.split())
    assert code == 0 and "under mpiexec the global batch" in flat and "keep it and --lr" in flat


def test_predict_help_says_what_its_json_holds(capsys):
    code, text, _ = outcome(["predict", "--help"], capsys)
    flat = " ".join(text.split())
    assert code == 0 and "'predictions'" in flat and "'classes' (each row's class index" in flat
    assert "--label-column LABEL_COLUMN a CSV file's label column, dropped from" in flat


def test_every_option_says_what_it_does_and_train_s_defaults_are_in_its_help(capsys):
    """--epochs, --seed and --loss had no help text: their defaults (30, 0, and what auto
    picks) were nowhere in the CLI."""
    import argparse

    from nudgenet.cli import build_parser

    commands = next(a for a in build_parser()._actions
                    if isinstance(a, argparse._SubParsersAction)).choices  # fmt: skip
    for name, command in commands.items():
        for action in command._actions:
            assert not action.option_strings or action.help, (name, action.option_strings)
    code, text, _ = outcome(["train", "--help"], capsys)
    flat = " ".join(text.split())
    assert code == 0 and "passes over the training rows (default: 30)" in flat
    assert "the batch order (default: 0)" in flat
    assert "auto: cross_entropy for a classification (two classes too), mse for a regression " \
           "(default: auto)" in flat  # fmt: skip
    code, text, _ = outcome(["gradcheck", "--help"], capsys)
    assert "auto: cross_entropy for several output units, mse for one" in " ".join(text.split())


@pytest.mark.parametrize("command, without", [
    ("evaluate", "the model's held-out rows of the data it was trained on"),
    ("explain", "the model's held-out rows of the data it was trained on"),
    ("gradcheck", "a random batch of --rows rows"),
])  # fmt: skip
def test_data_options_help_says_what_is_read_by_default(command, without, capsys):
    """Review 84, finding 5: --dataset said '(default: None)'; train's --label-column spoke of
    'a saved model' (evaluate's text), --dataset of 'numbers with decimal points' (whole
    numbers and label names work too), and --plot named no extra as --tensorboard does."""
    code, text, _ = outcome([command, "--help"], capsys)
    flat = " ".join(text.split())
    assert code == 0 and "None" not in flat and f"--labels (default: {without})" in flat
    assert "decimal" not in flat and "features are numbers, labels numbers or names" in flat
    trained = "the column the model was trained on where the file has it; else "
    assert (trained in flat) == (command != "gradcheck")


def test_train_help_says_train_s_own_label_column_default_and_the_plot_extra(capsys):
    """Review 84, finding 5: the rest of it, for train."""
    code, text, _ = outcome(["train", "--help"], capsys)
    flat = " ".join(text.split())
    assert code == 0 and "for a saved model" not in flat and "the model was trained on" not in flat
    assert "features are numbers, labels numbers or names), or an IDX images file with " \
        "--labels (default: digits)" in flat
    assert "(default: the column named label, target, y or class, in any case; the last column " \
        "of a file without a header row)" in flat
    assert '(needs matplotlib: pip install "nudgenet[plot]")' in flat
