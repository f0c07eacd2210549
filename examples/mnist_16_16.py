"""The seeds' MNIST network: 784-16-16-10 with ReLU, mini-batches of 100, SGD with momentum.

Data: the standard 60,000 / 10,000 split where the full MNIST training files are on disk;
otherwise the 10,000-image MNIST test set split 8,000 train / 2,000 held out (stratified, from
``--seed``).  The held-out set is only measured, never used to choose anything.

    python examples/mnist_16_16.py                  # a line per epoch, then the results
    python examples/mnist_16_16.py --json           # last stdout line: one JSON object
    python examples/mnist_16_16.py --data-dir /path/to/mnist --split small

Where the files are looked for: ``--data-dir``; else the ``NUDGENET_DATA`` environment variable;
else ``shared/data/mnist`` beside the repository checkout, if it exists; else the loader's cache
folder (``~/.cache/nudgenet/mnist``), downloading the files (SHA-256 checked) unless
``--no-download``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from _common import finish, parser, seconds_since, verbosity

import nudgenet as ng
from nudgenet.errors import DataError

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def default_data_dir() -> str | None:
    """``$NUDGENET_DATA``, else the shared folder beside the checkout, else None (the cache)."""
    if os.environ.get("NUDGENET_DATA"):
        return os.environ["NUDGENET_DATA"]
    return str(SHARED_MNIST) if SHARED_MNIST.is_dir() else None


def load_split(data_dir: str | None, split: str, download: bool, seed: int):
    """``(x_train, y_train, x_heldout, y_heldout, description)``."""
    if split in ("auto", "full"):
        fetch = download and split == "full"  # auto: only files already on disk
        try:
            x_train, y_train = ng.datasets.mnist("train", data_dir, download=fetch)
            x_test, y_test = ng.datasets.mnist("test", data_dir, download=fetch)
            return x_train, y_train, x_test, y_test, "mnist train 60k / test 10k (standard)"
        except DataError:
            if split == "full":
                raise
    x, y = ng.datasets.mnist("test", data_dir, download=download)
    x_train, x_held, y_train, y_held = ng.datasets.train_test_split(
        x, y, test_size=0.2, seed=seed, stratify=y
    )
    described = f"mnist t10k split {len(x_train)} train / {len(x_held)} held out (stratified)"
    return x_train, y_train, x_held, y_held, described


def build_model(seed: int) -> ng.Sequential:
    """784-16-16-10, He-uniform weights for the ReLU layers; outputs are logits."""
    return ng.Sequential(
        ng.Linear(784, 16, init="he_uniform", seed=seed),
        ng.ReLU(),
        ng.Linear(16, 16, init="he_uniform", seed=seed + 1),
        ng.ReLU(),
        ng.Linear(16, 10, seed=seed + 2),
    )


def main(argv: list[str] | None = None) -> dict:
    options = parser(__doc__, "split, weights and shuffling", 20)
    options.add_argument("--lr", type=float, default=0.05, help="initial learning rate (cosine)")
    options.add_argument("--momentum", type=float, default=0.9)
    options.add_argument("--weight-decay", type=float, default=2e-3)
    options.add_argument("--data-dir", default=default_data_dir(), help="folder of the IDX files")
    options.add_argument(
        "--split",
        choices=("auto", "small", "full"),
        default="auto",
        help="auto: 60k/10k if the training files are on disk, else 8k/2k of the 10k set",
    )
    options.add_argument("--no-download", dest="download", action="store_false")
    args = options.parse_args(argv)

    started = time.perf_counter()
    try:
        x_train, y_train, x_held, y_held, described = load_split(
            args.data_dir, args.split, args.download, args.seed
        )
    except DataError as error:
        options.exit(1, f"mnist_16_16: {error}\n")
    model = build_model(args.seed)
    loss_fn = ng.CrossEntropyLoss()
    optimizer = ng.optim.SGD(
        model, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    schedule = ng.optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    trained = time.perf_counter()
    history = ng.fit(
        model,
        loss_fn,
        optimizer,
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=100,
        seed=args.seed,
        metrics=["accuracy"],
        callbacks=[ng.LearningRateScheduler(schedule)],
        verbose=verbosity(args),
    )
    train_seconds = seconds_since(trained)
    held = ng.evaluate(model, loss_fn, x_held, y_held, metrics=["accuracy"])
    result = {
        "example": "mnist_16_16",
        "architecture": "784-16-16-10 ReLU, logits + softmax cross-entropy",
        "dataset": described,
        "n_train": len(x_train),
        "n_heldout": len(x_held),
        "epochs": len(history),
        "batch_size": 100,
        "optimizer": {
            "type": "SGD",
            "lr": f"{args.lr} with cosine annealing to 0",
            "momentum": args.momentum,
            "weight_decay": args.weight_decay,
        },
        "final_train_loss": history["loss"][-1],
        "train_accuracy": history["accuracy"][-1],
        "heldout_loss": held["loss"],
        "heldout_accuracy": held["accuracy"],
        "train_seconds": train_seconds,
    }
    return finish(
        result,
        args,
        started,
        f"{described}: held-out accuracy {held['accuracy']:.4f} after {len(history)} epochs "
        f"(train loss {result['final_train_loss']:.4f}, {train_seconds:.1f} s training)",
    )


if __name__ == "__main__":
    main()
