"""The implementations the benchmark times, and the architectures it times them on.

Each ``run_<impl>(sizes, x, y, batch, epochs)`` trains ``epochs`` epochs and returns the seconds
of each epoch and a function that predicts every row of ``x``.
"""

from __future__ import annotations

import time

import numpy as np

from .floors import run_gemm_numpy, run_gemm_torch

ARCHITECTURES = {
    "A": (784, 16, 16, 10),
    "B": (784, 128, 64, 10),
    "C": (784, 1024, 1024, 10),
}
LR = 0.1


def parameter_count(sizes) -> int:
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def make_data(samples: int, features: int = 784, classes: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((samples, features), dtype=np.float32), rng.integers(0, classes, samples)


def run_nudgenet(sizes, x, y, batch, epochs):
    import nudgenet as ng

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [ng.Linear(a, b, seed=i), ng.ReLU()]
    model = ng.Sequential(*layers[:-1])
    optimizer = ng.optim.SGD(model.parameters(), lr=LR)
    history = ng.fit(
        model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=epochs, batch_size=batch,
        seed=0, verbose=0,
    )  # fmt: skip
    return history.history["seconds"], lambda: ng.predict(model, x)


def run_numpy(sizes, x, y, batch, epochs):
    """The baseline: a plain, idiomatic NumPy training loop (what one writes by hand)."""
    rng = np.random.default_rng(0)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (a + b))
        params.append(
            [rng.uniform(-limit, limit, (a, b)).astype(np.float32), np.zeros(b, np.float32)]
        )
    last = len(params) - 1

    def forward(xb):
        acts = [xb]
        for i, (w, b) in enumerate(params):
            z = acts[-1] @ w + b
            acts.append(np.maximum(z, 0) if i < last else z)
        return acts

    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            xb, yb = x[idx], y[idx]
            m = len(idx)
            acts = forward(xb)
            z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            total += -np.log(p[np.arange(m), yb]).sum()
            d = p
            d[np.arange(m), yb] -= 1
            d /= m
            for i in range(last, -1, -1):
                w, b = params[i]
                grad_w, grad_b = acts[i].T @ d, d.sum(axis=0)
                if i:
                    d = (d @ w.T) * (acts[i] > 0)
                w -= LR * grad_w
                b -= LR * grad_b
        times.append(time.perf_counter() - started)
    return times, lambda: forward(x)[-1]


def run_torch(sizes, x, y, batch, epochs):
    import torch

    torch.manual_seed(0)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for start in range(0, len(xt), batch):
            idx = order[start : start + batch]
            optimizer.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
            total += loss.item()
        times.append(time.perf_counter() - started)

    def predict():
        with torch.no_grad():
            return model(xt).numpy()

    return times, predict


def run_sklearn(sizes, x, y, batch, epochs):
    import warnings

    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=sizes[1:-1], solver="sgd", learning_rate_init=LR, momentum=0.0,
        alpha=0.0, batch_size=batch, shuffle=True, random_state=0,
    )  # fmt: skip
    classes = np.arange(sizes[-1])
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            started = time.perf_counter()
            model.partial_fit(x, y, classes=classes)  # one pass over the shuffled rows
            times.append(time.perf_counter() - started)
    return times, lambda: model.predict_proba(x)


RUNNERS = {
    "nudgenet": run_nudgenet,
    "numpy": run_numpy,
    "torch": run_torch,
    "sklearn": run_sklearn,
    "gemm-numpy": run_gemm_numpy,
    "gemm-torch": run_gemm_torch,
}
IMPLEMENTATIONS = tuple(RUNNERS)
MODULES = {"torch": "torch", "sklearn": "sklearn", "gemm-torch": "torch"}  # what each needs
FLOORS = ("gemm-numpy", "gemm-torch")
