"""A 3-class softmax classifier on interleaved spirals: 2-32-32-3 tanh network, softmax
cross-entropy from the logits (fused: backward is (p − y)/N), SGD with momentum.

    python examples/softmax_classifier.py            # a line per epoch, then the results
    python examples/softmax_classifier.py --json     # last stdout line: one JSON object

A quarter of the points (stratified, from ``--seed``) is held out and only measured.
"""

from __future__ import annotations

import time

import numpy as np
from _common import finish, parser, verbosity

import nudgenet as ng

CLASSES = 3


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> list[list[int]]:
    """``m[i][j]`` = how many points of class ``i`` were predicted as class ``j``."""
    m = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(m, (labels, predicted), 1)
    return m.tolist()


def main(argv: list[str] | None = None) -> dict:
    options = parser(__doc__, "data, split, weights and shuffling", 100)
    options.add_argument("--points", type=int, default=600, help="spiral points, all classes")
    options.add_argument("--noise", type=float, default=0.2, help="angle noise (radians)")
    options.add_argument("--hidden", type=int, default=32, help="units per hidden layer")
    options.add_argument("--lr", type=float, default=0.05)
    args = options.parse_args(argv)

    started = time.perf_counter()
    x, y = ng.datasets.spirals(args.points, CLASSES, args.noise, seed=args.seed)
    x_train, x_held, y_train, y_held = ng.datasets.train_test_split(
        x, y, test_size=0.25, seed=args.seed, stratify=y
    )
    h = args.hidden
    model = ng.Sequential(
        ng.Linear(2, h, seed=args.seed),
        ng.Tanh(),
        ng.Linear(h, h, seed=args.seed + 1),
        ng.Tanh(),
        ng.Linear(h, CLASSES, seed=args.seed + 2),  # logits; the loss applies the softmax
    )
    loss_fn = ng.CrossEntropyLoss()
    optimizer = ng.optim.SGD(model, lr=args.lr, momentum=0.9)
    history = ng.fit(
        model,
        loss_fn,
        optimizer,
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=32,
        seed=args.seed,
        metrics=["accuracy"],
        verbose=verbosity(args),
    )
    train = ng.evaluate(model, loss_fn, x_train, y_train, metrics=["accuracy"])
    held = ng.evaluate(model, loss_fn, x_held, y_held, metrics=["accuracy"])

    # The same network with the softmax made explicit: each row is a probability distribution.
    probabilities = ng.predict(ng.Sequential(*model, ng.Softmax()), x_held)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    result = {
        "example": "softmax_classifier",
        "architecture": f"2-{h}-{h}-{CLASSES} tanh, logits + softmax cross-entropy",
        "dataset": f"spirals: {args.points} points, {CLASSES} classes, noise {args.noise}",
        "n_train": len(x_train),
        "n_heldout": len(x_held),
        "epochs": len(history),
        "final_train_loss": history["loss"][-1],
        "train_accuracy": train["accuracy"],
        "heldout_loss": held["loss"],
        "heldout_accuracy": held["accuracy"],
        "heldout_confusion": confusion_matrix(y_held, probabilities.argmax(axis=1)),
        "heldout_mean_confidence": float(probabilities.max(axis=1).mean()),
    }
    return finish(
        result,
        args,
        started,
        f"train accuracy {train['accuracy']:.4f}, held-out accuracy {held['accuracy']:.4f} "
        f"(held-out loss {held['loss']:.4f}); confusion {result['heldout_confusion']}",
    )


if __name__ == "__main__":
    main()
