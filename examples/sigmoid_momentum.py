"""Momentum against plain SGD: a sigmoid network learns a circle from the same initial weights.

500 points in [-1, 1]², labelled 1 inside the circle x₁² + x₂² < 0.5; a 2-8-1 network with
sigmoid units everywhere (the output is a probability, trained with binary cross-entropy).
Mini-batches of 250 rows, so every epoch makes exactly 2 parameter updates (checked after every
epoch).  The initial weights are copied once; plain SGD (μ = 0) and SGD with momentum (μ = 0.9)
each start from that copy, with the same learning rate and the same shuffling, and train until
the loss over all 500 points drops to ``--target``.  Momentum gets there in far fewer epochs:
its velocity v ← μv + g accumulates consistent gradient directions, for up to 1/(1 − μ) = 10×
the step along them.

    python examples/sigmoid_momentum.py             # a line per run, then the comparison
    python examples/sigmoid_momentum.py --json      # last stdout line: one JSON object
"""

from __future__ import annotations

import time

import numpy as np
from _common import finish, parser, seconds_since

import nudgenet as ng

N, BATCH = 500, 250
UPDATES_PER_EPOCH = N // BATCH


def circle_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``N`` points uniform in [-1, 1]²; label 1.0 inside x₁² + x₂² < 0.5, as a column."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(N, 2)).astype(np.float32)
    y = (np.sum(x**2, axis=1) < 0.5).astype(np.float32)[:, None]
    return x, y


class UntilTarget(ng.Callback):
    """Checks the number of updates in every epoch; stops once the full-data loss <= target."""

    def __init__(self, x, y, loss_fn, target: float):
        self.x, self.y, self.loss_fn, self.target = x, y, loss_fn, target
        self.reached_at = None  # epochs trained when the target was first met

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.steps_before = self.optimizer.step_count

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        updates = self.optimizer.step_count - self.steps_before
        if updates != UPDATES_PER_EPOCH:
            raise RuntimeError(f"epoch {epoch + 1} made {updates} updates, not {UPDATES_PER_EPOCH}")
        if ng.evaluate(self.model, self.loss_fn, self.x, self.y)["loss"] <= self.target:
            self.reached_at, self.stop_training = epoch + 1, True


def train(model, initial: dict, momentum: float, x, y, args) -> dict:
    """Train ``model`` from ``initial`` until the target; what it took."""
    model.load_state_dict(initial)
    loss_fn = ng.BCELoss()
    optimizer = ng.optim.SGD(model, lr=args.lr, momentum=momentum)
    until = UntilTarget(x, y, loss_fn, args.target)
    started = time.perf_counter()
    history = ng.fit(
        model,
        loss_fn,
        optimizer,
        x,
        y,
        epochs=args.epochs,
        batch_size=BATCH,
        seed=args.seed,
        metrics=["accuracy"],
        callbacks=[until],
        verbose=0,
    )
    if optimizer.step_count != UPDATES_PER_EPOCH * len(history):
        raise RuntimeError(f"{optimizer.step_count} updates in {len(history)} epochs")
    final = ng.evaluate(model, loss_fn, x, y, metrics=["accuracy"])
    run = {
        "momentum": momentum,
        "epochs_to_target": until.reached_at,
        "updates": optimizer.step_count,
        "final_loss": final["loss"],
        "final_accuracy": final["accuracy"],
        "seconds": seconds_since(started),
    }
    if not (args.json or args.quiet):
        reached = f"after {until.reached_at} epochs" if until.reached_at else "never"
        print(
            f"SGD momentum={momentum}: loss {final['loss']:.4f} <= {args.target} {reached} "
            f"({optimizer.step_count} updates), accuracy {final['accuracy']:.3f}"
        )
    return run


def main(argv: list[str] | None = None) -> dict:
    options = parser(
        __doc__,
        "data, weights and shuffling",
        3000,
        epochs_help="the most epochs either run may take to reach the target",
        aliases=("--max-epochs",),
    )
    options.add_argument("--lr", type=float, default=0.5, help="the same for both runs")
    options.add_argument("--momentum", type=float, default=0.9)
    options.add_argument("--target", type=float, default=0.2, help="binary cross-entropy to reach")
    options.add_argument("--hidden", type=int, default=8)
    args = options.parse_args(argv)

    started = time.perf_counter()
    x, y = circle_data(args.seed)
    model = ng.Sequential(
        ng.Linear(2, args.hidden, seed=args.seed),
        ng.Sigmoid(),
        ng.Linear(args.hidden, 1, seed=args.seed + 1),
        ng.Sigmoid(),
    )
    initial = model.state_dict()  # copies: both runs start from exactly these weights
    plain = train(model, initial, 0.0, x, y, args)
    with_momentum = train(model, initial, args.momentum, x, y, args)
    faster = with_momentum["epochs_to_target"] is not None and (
        plain["epochs_to_target"] is None
        or with_momentum["epochs_to_target"] < plain["epochs_to_target"]
    )
    result = {
        "example": "sigmoid_momentum",
        "architecture": f"2-{args.hidden}-1 sigmoid, binary cross-entropy",
        "dataset": f"circle: {N} points, {int(y.sum())} inside",
        "batch_size": BATCH,
        "updates_per_epoch": UPDATES_PER_EPOCH,
        "lr": args.lr,
        "target_loss": args.target,
        "sgd": plain,
        "momentum": with_momentum,
        "momentum_faster": faster,
    }
    finish(
        result,
        args,
        started,
        f"epochs to loss {args.target}: plain SGD {plain['epochs_to_target']}, "
        f"momentum {args.momentum}: {with_momentum['epochs_to_target']}",
    )
    if not faster:
        raise SystemExit("momentum did not reach the target loss in fewer epochs than plain SGD")
    return result


if __name__ == "__main__":
    main()
