"""TerminateOnDivergence: finite runaways stop, healthy training never does (issue 11)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng
from nudgenet import recipes

REPO = Path(__file__).resolve().parents[1]


def _drive(guard, epochs, rows=32):
    """Feed ``guard`` the hooks of a run whose epochs had these batch losses (a list of batch
    losses per epoch, ``rows`` rows each); the epoch after which it stopped, or None."""
    guard.on_train_begin({})
    for epoch, batches in enumerate(epochs):
        guard.on_epoch_begin(epoch, {})
        for batch, loss in enumerate(batches):
            guard.on_train_batch_end(batch, {"size": rows, "loss": loss})
        guard.on_epoch_end(epoch, {"loss": float(np.mean(batches))})
        if guard.stop_training:
            return epoch
    return None


def test_the_runaway_rule_compares_each_epoch_with_the_start():
    guard = ng.TerminateOnDivergence(factor=10)
    with pytest.warns(RuntimeWarning, match=r"rose to 10\.5 in epoch 3, more than 10 times its "
                                            r"start \(1\); stopping\. Lower the learning rate"):
        assert _drive(guard, [[1.0, 0.5], [0.3], [10.5]]) == 2
    assert guard.diverged_epoch == 2 and guard.stop_reason == "diverged"
    assert guard.message == "the training loss rose to 10.5 in epoch 3, more than 10 times its " \
                            "start (1)"  # fmt: skip
    assert _drive(guard, [[1.0, 0.5], [0.3], [10.0]]) is None  # not more than 10 times
    # the start is the mean loss of the first 32 rows: four batches of 8 here
    assert _drive(guard, [[4.0, 2.0, 1.0, 1.0, 60.0]], rows=8) is None  # start 2, mean 13.6
    with pytest.warns(RuntimeWarning, match=r"rose to 20\.5 in epoch 2, more than 10 times its "
                                            r"start \(2\)"):
        assert _drive(guard, [[4.0, 2.0, 1.0, 1.0, 60.0], [20.5]], rows=8) == 1
    with pytest.warns(RuntimeWarning, match="more than 3 times its start"):
        assert _drive(ng.TerminateOnDivergence(factor=3), [[1.0], [3.5]]) == 1


def test_the_climb_rule_needs_patience_rises_ending_above_the_first_epoch():
    climb = [[1.0], [0.5], [0.6], [0.7], [0.8], [0.9]]
    guard = ng.TerminateOnDivergence()  # patience 5
    assert _drive(guard, [*climb, [0.95]]) is None  # five rises, still below the first epoch's
    assert _drive(guard, [*climb[:-1], [1.1]]) is None  # four rises
    with pytest.warns(RuntimeWarning, match="rose in each of the last 5 epochs, to 1.1 in epoch 7"):
        assert _drive(guard, [*climb, [1.1]]) == 6
    assert guard.diverged_epoch == 2  # the climb began in epoch 3 (from 1)
    assert [guard.healthy(e) for e in range(4)] == [True, True, False, False]
    with pytest.warns(RuntimeWarning):
        assert _drive(ng.TerminateOnDivergence(patience=2), [[1.0], [0.5], [0.9], [1.2]]) == 3


def test_the_stuck_rule_stops_a_run_that_never_gets_below_its_start():
    stuck = [[1.0, 3.0]] + [[2.5], [1.8], [2.2]] * 3  # the start is 1.0; ten epochs above it
    guard = ng.TerminateOnDivergence()  # patience 5: 2 × 5 epochs
    assert _drive(guard, stuck[:-1]) is None  # nine epochs
    with pytest.warns(RuntimeWarning, match=r"stayed above its start \(1\) for all 10 epochs"):
        assert _drive(guard, stuck) == 9
    assert guard.diverged_epoch == 0 and "nothing was learnt" in guard.message
    assert _drive(guard, [*stuck[:5], [0.9], *stuck[5:]]) is None  # once below the start: learnt


def test_a_nan_loss_is_recorded_for_fit_to_report():
    guard = ng.TerminateOnDivergence()
    assert _drive(guard, [[1.0], [float("nan")]]) == 1  # no warning here: fit warns
    assert guard.message == "the training loss became nan in epoch 2" and guard.diverged_epoch == 1


def test_bad_settings_are_one_line_errors():
    for factor in (1, 0.5, float("inf"), "10"):
        with pytest.raises(ValueError, match="factor must be a number > 1"):
            ng.TerminateOnDivergence(factor=factor)
    for patience in (0, 2.5, True):
        with pytest.raises(ValueError, match="patience must be a whole number >= 1"):
            ng.TerminateOnDivergence(patience=patience)


def _digits_run(lr, callbacks, epochs=30):
    x, y = ng.datasets.digits()
    model = recipes.build_mlp(64, [64], 10, "relu", None, 0)  # nudgenet train's network
    optimizer = ng.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    with np.errstate(all="ignore"):
        return ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=epochs, seed=0,
                      verbose=0, callbacks=callbacks)  # fmt: skip


def test_fit_with_the_guard_stops_the_issues_runaway_with_a_finite_loss():
    unguarded = _digits_run(100.0, [])
    assert unguarded.stop_reason == "completed"  # today's fit: 30 epochs of a finite runaway
    assert all(np.isfinite(unguarded["loss"])) and min(unguarded["loss"]) > 50
    guard = ng.TerminateOnDivergence()
    with pytest.warns(ng.DivergenceWarning, match="in epoch 1, more than 100 times its start"):
        history = _digits_run(100.0, [guard])
    assert history.stop_reason == "diverged" and history.stopped_epoch == 0 == guard.diverged_epoch
    assert np.isfinite(history["loss"][0]) and history["loss"][0] > 10 * guard.start


def _guard_of_a_cli_run(monkeypatch, tmp_path, *options):
    """The TerminateOnDivergence guard ``nudgenet train`` ran with these options, after the run."""
    from nudgenet.cli import main
    from nudgenet.cli import train as train_command

    guards = []

    def recording_fit(*args, **kwargs):
        guards.extend(cb for cb in kwargs["callbacks"] if isinstance(cb, ng.TerminateOnDivergence))
        return ng.fit(*args, **kwargs)

    monkeypatch.setattr(train_command, "fit", recording_fit)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "-q", "-o", "m.safetensors", *options]) == 0
    assert len(guards) == 1
    return guards[0]


@pytest.mark.parametrize(
    "options",
    [
        (),  # the bundled digits, the defaults, 30 epochs
        ("--dataset", "black-scholes"),  # the defaults: 50,000 rows
        ("--dataset", "black-scholes", "--samples", "5000", "--optimizer", "adam", "--lr", "0.1"),
        ("--dataset", "spirals", "--samples", "2000", "--optimizer", "adam", "--lr", "0.03",
         "--epochs", "100"),
        ("--dataset", "xor", "--epochs", "300"),  # one batch an epoch: the first is the start
        ("--lr", "0.3", "--epochs", "60"),  # noisy: rises for three epochs at a time
    ],
    ids=["digits", "black-scholes", "bs-adam-noisy", "spirals-adam", "xor", "digits-noisy"],
)
def test_healthy_noisy_training_never_trips_the_guard(monkeypatch, tmp_path, options):
    guard = _guard_of_a_cli_run(monkeypatch, tmp_path, *options)
    assert not guard.stop_training and guard.diverged_epoch is None
    assert max(guard.losses) < 0.5 * guard.factor * guard.start  # a margin of 2 at least
    losses = guard.losses
    rises = "".join("+" if after > before else " " for before, after in zip(losses, losses[1:]))
    longest = max((len(run) for run in rises.split()), default=0)
    assert longest < guard.patience or max(losses[1:]) < losses[0]


def _train(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "nudgenet", "train", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip


def test_the_cli_stops_a_runaway_names_the_epoch_and_the_fix_and_keeps_the_good_model(tmp_path):
    assert _train("-q", cwd=tmp_path).returncode == 0
    good = (tmp_path / "nudgenet-digits.safetensors").read_bytes()
    result = _train("--lr", "100", "-q", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "nudgenet train: error: training diverged: the training loss rose to 9.679e+06 in epoch "
        "1, more than 100 times its start (2.742); no model saved (try a smaller --lr, e.g. 10)\n"
    )
    assert (tmp_path / "nudgenet-digits.safetensors").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nudgenet-digits.safetensors"]


def test_early_stopping_keeps_no_epoch_of_a_run_that_ran_away_from_the_start(tmp_path):
    result = _train("--lr", "100", "--early-stopping", "3", "--json", "-o", "es.safetensors",
                    cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1 and "training diverged: the training loss rose to" in (
        result.stderr
    )
    assert not (tmp_path / "es.safetensors").exists() and "model_path" not in result.stdout


def test_the_cli_stops_a_run_that_learns_nothing(tmp_path):
    """Digits at SGD's --lr 10: the loss hovers at 2-3 times its start and accuracy at 0.1, with
    no runaway and no climb; exit 1 and no model."""
    result = _train("--lr", "10", "-q", cwd=tmp_path)
    assert result.returncode == 1 and "nothing was learnt" in result.stderr
    assert "for all 10 epochs" in result.stderr and not list(tmp_path.glob("*.safetensors"))


def test_a_swinging_run_that_settles_is_not_stopped(monkeypatch, tmp_path):
    """SGD at 0.05 (the classification default) on a small regression swings up to 35 times its
    start, then settles below it: not a runaway (a default factor of 10 stopped it in epoch 3)."""
    x = np.random.default_rng(1).normal(size=(150, 2))
    y = x @ [1.5, -2.0] + 0.1 * np.random.default_rng(2).normal(size=150)
    table = np.column_stack([x, y])
    np.savetxt(tmp_path / "small.csv", table, delimiter=",", header="a,b,label", comments="")
    guard = _guard_of_a_cli_run(monkeypatch, tmp_path, "--dataset", str(tmp_path / "small.csv"),
                                "--task", "regression", "--epochs", "20",
                                "--lr", "0.05")  # fmt: skip
    assert not guard.stop_training
    assert max(guard.losses) > 20 * guard.start and guard.losses[-1] < 0.1 * guard.start
    # a regression's own default rate (0.01 swung above the start for ten epochs here, refused)
    calm = _guard_of_a_cli_run(monkeypatch, tmp_path, "--dataset", str(tmp_path / "small.csv"),
                               "--task", "regression", "--epochs", "20", "--overwrite")  # fmt: skip
    assert not calm.stop_training and calm.losses[-1] < 0.1 * calm.start


def test_a_loss_of_probabilities_still_reports_the_divergence_not_its_range():
    """NaN outputs pass BCELoss's [0, 1] check (it compares min and max, NaN compares False), so
    a run that overflows stops as diverged, naming the layer, rather than blaming logits."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = ng.Sequential(ng.Linear(3, 8, seed=0), ng.ReLU(), ng.Linear(8, 1, seed=1), ng.Sigmoid())
    optimizer = ng.optim.SGD(model.parameters(), lr=1e30)
    with pytest.warns(ng.DivergenceWarning):
        history = ng.fit(model, ng.BCELoss(), optimizer, x, y, epochs=3, verbose=0, seed=0)
    assert history.stop_reason == "diverged"
    assert "the forward pass first overflowed in layer" in history.stop_message


@pytest.mark.parametrize(
    "options, saying",
    [
        (("--lr", "2", "--early-stopping", "3"), "try a smaller --lr, e.g. 0.2"),  # kept epoch 2
        (("--lr", "1"), "try a smaller --lr, e.g. 0.1"),  # below its start (2.742) from epoch 1
    ],
    ids=["early-stopping", "chance-below-the-start"],
)
def test_the_cli_saves_no_model_at_chance_level(tmp_path, options, saying):
    """The digits at --lr 2 or 1 end at accuracy 0.1 with a loss below its start, which the
    guard cannot tell: every unit died, the model predicts the same for every row, its loss no
    better than predicting the class frequencies (their entropy, ln 10 for ten balanced
    classes): exit 1 and no model."""
    result = _train(*options, "-q", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "nudgenet train: error: training learnt nothing: the trained model predicts the same " \
           "for every training row (its training loss " in result.stderr  # fmt: skip
    assert "against 2.302 for predicting the targets' distribution alone): nothing was learnt; " \
           f"no model saved ({saying})\n" in result.stderr  # fmt: skip
    assert result.stderr.count("\n") == 1 and not list(tmp_path.glob("*.safetensors"))


def test_the_baseline_is_the_loss_of_predicting_the_targets_distribution():
    from nudgenet.cli.baseline import prior_loss

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    model = recipes.build_mlp(3, [4], 3, "relu", None, 0)
    classes = rng.choice(3, size=400, p=[0.6, 0.3, 0.1])
    weights = rng.uniform(0.5, 2.0, size=400)
    for w in (None, weights):
        share = np.ones(400) if w is None else w
        p = np.bincount(classes, weights=share) / share.sum()
        entropy = -(p * np.log(p)).sum()
        assert prior_loss(model, ng.CrossEntropyLoss(), x, classes, w) == pytest.approx(entropy)
    binary = (classes == 0).astype(np.float32)[:, None]
    p, one_output = binary.mean(), recipes.build_mlp(3, [4], 1, "relu", None, 0)
    entropy = -p * np.log(p) - (1 - p) * np.log(1 - p)
    assert prior_loss(one_output, ng.BCEWithLogitsLoss(), x, binary) == pytest.approx(entropy)
    values = (x @ [1.0, 2.0, -1.0] + 3).astype(np.float32)[:, None]
    regression = recipes.build_mlp(3, [4], 1, "relu", None, 0)
    assert prior_loss(regression, ng.MSELoss(), x, values) == pytest.approx(values.var(), 1e-5)


def test_nothing_learnt_is_the_same_outputs_for_every_row_not_a_loss_near_the_baseline():
    """Review 80: a model of a weak but real signal (a held-out ROC AUC of 0.57) has a loss
    within 1% of a constant model's and was refused; the rule is the dead network's: the same
    outputs for every row."""
    from nudgenet.divergence import nothing_learnt

    varying = np.array([[0.10, -0.20], [0.12, -0.19], [0.09, -0.21]])
    assert nothing_learnt(varying, 0.6105, 0.6109) is None  # barely below: saved
    assert nothing_learnt(varying, 0.7, 0.6109) is None  # worse, yet it varies: its own verdict
    dead = np.repeat([[0.3, -1.2]], 3, axis=0)
    message = nothing_learnt(dead, 2.395, 2.302)
    assert message.startswith("the trained model predicts the same for every training row")
    assert nothing_learnt(dead[:1], 2.395, 2.302) is None  # one row tells nothing


def test_the_cli_saves_a_model_of_a_weak_but_real_signal(tmp_path):
    """Review 80: churn-like rows (29% positives, one feature of small effect): the trained
    model's loss is within 1% of the class frequencies' entropy, as the model that made the
    data is, and the run was refused as "nothing learnt"; its predictions vary: saved."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4))
    y = rng.random(3000) < 1 / (1 + np.exp(0.85 - 0.25 * x[:, 0]))
    rows = [",".join(f"{v:.4f}" for v in r) + f",{int(t)}" for r, t in zip(x, y)]
    (tmp_path / "weak.csv").write_text("a,b,c,d,churn\n" + "\n".join(rows) + "\n")
    result = _train("--dataset", "weak.csv", "--label-column", "churn", "--epochs", "12", "-q",
                    cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.glob("*.safetensors"))


def test_training_rows_whose_features_are_all_the_same_are_refused_before_training(tmp_path):
    """Review 84: a table without information (every row 1,2) ran, ended as "training
    diverged" and hinted a smaller --lr at every rate; no rate helps: refused before training."""
    rows = "".join(f"1,2,{i % 3}\n" for i in range(300))
    (tmp_path / "same.csv").write_text("a,b,label\n" + rows)
    result = _train("--dataset", "same.csv", "-q", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr == (
        "nudgenet train: error: every one of the 240 training rows has the same features, so a "
        "model can learn nothing from them; no model trained (check the feature columns)\n"
    )
