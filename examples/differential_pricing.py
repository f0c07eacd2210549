"""Differential training (Huge & Savine 2020, arXiv 2005.02347): a pricer learnt from Monte-Carlo
payoffs *and* their pathwise derivatives learns better prices and far better Greeks from the
same few samples than one learnt from the payoffs alone.

Data: ``ng.datasets.black_scholes_mc``: European calls (strike 1.1, volatility 0.2, maturity 1,
rate 0), spot drawn uniformly in [0.6, 1.8], one simulated path per row: its discounted payoff
is the noisy label, its pathwise ∂payoff/∂spot the differential label.  The same network
(Standardize → 4 × 20 softplus → 1 → Unstandardize, float64) and the same budget (epochs,
batch size, Adam with an exponentially decaying learning rate) are trained two ways: on the
values with ``ng.MSELoss`` ("value-only"), and on values and derivatives with
``ng.DifferentialLoss.from_labels`` (the paper's weights), through ``ng.fit``.  Both are scored
on a grid of spots over that range against the closed form: price RMSE and delta MAE (∂network/∂spot
by ``ng.grad``), prices at strike 1.1 (not per unit strike), averaged over several data
seeds (one seed's noise decides a lot at 1,024 samples).  Then a basket option under the
Bachelier model in 7 dimensions
(``ng.datasets.bachelier_basket``, closed form known), scored on 4,096 fresh rows, where the
value-only network has to discover from noisy payoffs that only the basket matters.

    python examples/differential_pricing.py --json
    python examples/differential_pricing.py --plot differential.png
    python examples/differential_pricing.py --fast --json     # the test's reduced run
"""

from __future__ import annotations

import time

import numpy as np
from _common import finish, parser

import nudgenet as ng

STRIKE, SPOTS = 1.1, (0.6, 1.8)


def network(x: np.ndarray, y: np.ndarray, seed: int) -> ng.Sequential:
    """Standardize → 4 × 20 softplus → 1 → Unstandardize, in float64."""
    layers: list[ng.Module] = [ng.Standardize(x.mean(axis=0), x.std(axis=0))]
    width = x.shape[1]
    for i in range(4):
        layers += [ng.Linear(width, 20, seed=seed + i), ng.Softplus()]
        width = 20
    layers += [ng.Linear(width, 1, seed=seed + 4), ng.Unstandardize(y.mean(axis=0), y.std(axis=0))]
    return ng.Sequential(*layers).double()


def train(x, payoff, differentials, differential: bool, args) -> ng.Sequential:
    """One network (the same initial weights), trained value-only or differentially with the
    same budget."""
    model = network(x, payoff, args.seed)
    optimizer = ng.optim.Adam(model.parameters(), lr=args.lr)
    decay = ng.LearningRateScheduler(lambda epoch: args.lr * 0.01 ** (epoch / args.epochs))
    if differential:
        loss, y = ng.DifferentialLoss.from_labels(payoff, differentials), np.hstack(
            [payoff, differentials]
        )
    else:
        loss, y = ng.MSELoss(), payoff
    ng.fit(model, loss, optimizer, x, y, epochs=args.epochs, batch_size=args.batch_size,
           seed=args.seed, verbose=0, callbacks=[decay])  # fmt: skip
    return model.eval()


def price_and_delta(model: ng.Sequential, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network's price (N, 1) and its gradient by the inputs (N, d)."""
    xt = ng.tensor(x, requires_grad=True)
    out = model(xt)
    (slopes,) = ng.grad(out.sum(), xt)
    return out.data, slopes.data


def scores(model, x, price, delta) -> dict:
    p, d = price_and_delta(model, x)
    return {
        "price_rmse": float(np.sqrt(np.mean((p - price) ** 2))),
        "delta_mae": float(np.mean(np.abs(d - delta))),
    }


def _mean(runs: list[dict]) -> dict:
    return {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}


def call_case(n: int, seeds: list[int], args) -> tuple[dict, dict]:
    """Value-only and differential scores at ``n`` samples, averaged over ``seeds``; and the
    first seed's curves (for the figure)."""
    spot = np.linspace(*SPOTS, 121)[:, None]
    price, delta, _ = ng.datasets.black_scholes_call(spot / STRIKE, 1.0, 0.0, 0.2)
    price = STRIKE * price
    runs: dict[str, list[dict]] = {"value-only": [], "differential": []}
    curves: dict = {}
    for seed in seeds:
        data = ng.datasets.black_scholes_mc(n, seed=seed, spot=SPOTS, strike=STRIKE)
        for name in runs:
            model = train(data.x, data.payoff, data.differentials, name == "differential", args)
            runs[name].append(scores(model, spot, price, delta))
            if seed == seeds[0]:
                curves[name] = price_and_delta(model, spot)
                curves["data"] = (data.x[:, 0], data.payoff[:, 0], data.differentials[:, 0])
    curves["grid"], curves["closed_form"] = spot[:, 0], (price, delta)
    return {name: _mean(r) for name, r in runs.items()}, curves


def basket_case(n: int, seeds: list[int], args, dimensions: int) -> dict:
    """The same comparison on a Bachelier basket call, scored on 4,096 fresh rows."""
    test = ng.datasets.bachelier_basket(4096, seed=10_000, dimensions=dimensions)
    runs: dict[str, list[dict]] = {"value-only": [], "differential": []}
    for seed in seeds:
        data = ng.datasets.bachelier_basket(n, seed=seed, dimensions=dimensions)
        for name in runs:
            model = train(data.x, data.payoff, data.differentials, name == "differential", args)
            runs[name].append(scores(model, test.x, test.price, test.delta))
    return {name: _mean(r) for name, r in runs.items()}


def ratios(table: dict) -> dict:
    return {
        "price_rmse": table["differential"]["price_rmse"] / table["value-only"]["price_rmse"],
        "delta_mae": table["differential"]["delta_mae"] / table["value-only"]["delta_mae"],
    }


def main(argv: list[str] | None = None) -> dict:
    options = parser(__doc__, "weights and shuffling; the data seeds are the next ones", 50)
    options.add_argument("--lr", type=float, default=0.02, help="initial Adam learning rate")
    options.add_argument("--batch-size", type=int, default=32)
    options.add_argument("--data-seeds", type=int, default=6, help="data sets averaged per size")
    options.add_argument("--dimensions", type=int, default=7, help="the basket's assets")
    options.add_argument("--fast", action="store_true",
                         help="1,024 samples and 3 data seeds only (1 for the basket): the test's "
                         "reduced run")  # fmt: skip
    options.add_argument("--plot", metavar="PNG", help="draw price and delta vs spot to PNG")
    args = options.parse_args(argv)
    if args.plot:
        ng.plot.check_figure_path(args.plot)
    started = time.perf_counter()
    sizes = (1024,) if args.fast else (1024, 4096)
    seeds = [args.seed + 1 + k for k in range(3 if args.fast else args.data_seeds)]
    result: dict = {"example": "differential_pricing", "network": "4 x 20 softplus",
                    "epochs": args.epochs, "batch_size": args.batch_size, "data_seeds": seeds,
                    "black_scholes": {}}  # fmt: skip
    for n in sizes:
        table, curves = call_case(n, seeds, args)
        result["black_scholes"][str(n)] = {**table, "ratio": ratios(table)}
        if n == 1024 and args.plot:
            learned = {name: curves[name] for name in ("value-only", "differential")}
            ng.plot.plot_price_and_delta(curves["grid"], curves["closed_form"], learned,
                                         curves["data"], args.plot)  # fmt: skip
            result["figure"] = args.plot
    basket = basket_case(1024, seeds[:1] if args.fast else seeds[:3], args, args.dimensions)
    result["basket"] = {"dimensions": args.dimensions, "samples": 1024, **basket,
                        "ratio": ratios(basket)}  # fmt: skip
    at_1024 = result["black_scholes"]["1024"]
    return finish(
        result,
        args,
        started,
        "1,024 samples: price RMSE {:.4f} -> {:.4f}, delta MAE {:.4f} -> {:.4f} (value-only -> "
        "differential); basket ({}d): {:.4f} -> {:.4f}, {:.4f} -> {:.4f}".format(
            at_1024["value-only"]["price_rmse"], at_1024["differential"]["price_rmse"],
            at_1024["value-only"]["delta_mae"], at_1024["differential"]["delta_mae"],
            args.dimensions, basket["value-only"]["price_rmse"],
            basket["differential"]["price_rmse"], basket["value-only"]["delta_mae"],
            basket["differential"]["delta_mae"],
        ),
    )  # fmt: skip


if __name__ == "__main__":
    main()
