"""Differential training: the Monte-Carlo data (pathwise derivatives = finite differences of the
payoff along the same paths; the closed forms = the paths' means), DifferentialLoss (its value by
hand, its gradients against finite differences in float64), through fit (engine only, with
callbacks, diagnostics, metrics, validation and a resumed checkpoint), the command line, and
the example's promised ratios."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.data.montecarlo import basket_market
from test_cli import last_json, run
from test_examples import results

# --- the data -----------------------------------------------------------------------------------


def test_pathwise_derivatives_are_finite_differences_along_the_same_paths():
    rng = np.random.default_rng(0)
    n = 2000
    s, sigma, t = rng.uniform(0.5, 1.5, n), rng.uniform(0.1, 0.4, n), rng.uniform(0.25, 2, n)
    z, r, k = rng.standard_normal(n), 0.03, 1.0
    payoff, derivatives = ng.datasets.call_payoff(s, sigma, t, r, k, z)
    eps = 1e-6
    away = np.ones(n, bool)  # paths ending within a step of the strike: the kink, left out
    for j, base in enumerate((s, sigma, t)):
        args = [s, sigma, t]
        up, down = list(args), list(args)
        up[j], down[j] = base + eps, base - eps
        plus = ng.datasets.call_payoff(*up, r, k, z)[0]
        minus = ng.datasets.call_payoff(*down, r, k, z)[0]
        numeric = (plus - minus) / (2 * eps)
        away &= (plus > 0) == (minus > 0)
        np.testing.assert_allclose(derivatives[away, j], numeric[away], rtol=1e-6, atol=1e-8)
    assert away.mean() > 0.99 and (payoff > 0).mean() > 0.3


def test_black_scholes_mc_is_call_payoff_on_its_draws_and_reproducible():
    data = ng.datasets.black_scholes_mc(500, seed=3, volatility=(0.1, 0.4), maturity=(0.5, 2.0),
                                        rate=0.02, strike=1.1)  # fmt: skip
    assert data.columns == ("spot", "volatility", "maturity")
    assert data.x.shape == (500, 3) and data.differentials.shape == (500, 3)
    rng = np.random.default_rng(3)  # the documented order: the input columns, then z
    s, sigma, t = rng.uniform(0.5, 1.5, 500), rng.uniform(0.1, 0.4, 500), rng.uniform(0.5, 2, 500)
    payoff, derivatives = ng.datasets.call_payoff(s, sigma, t, 0.02, 1.1, rng.standard_normal(500))
    np.testing.assert_array_equal(data.payoff[:, 0], payoff)
    np.testing.assert_array_equal(data.differentials, derivatives)
    again = ng.datasets.black_scholes_mc(500, seed=3, volatility=(0.1, 0.4), maturity=(0.5, 2.0),
                                         rate=0.02, strike=1.1)  # fmt: skip
    for a, b in zip(data[:-1], again[:-1]):
        np.testing.assert_array_equal(a, b)
    fixed = ng.datasets.black_scholes_mc(10, seed=0, dtype=np.float32)
    assert fixed.columns == ("spot",) and fixed.x.shape == (10, 1) and fixed.x.dtype == np.float32


@pytest.mark.parametrize(
    "bad",
    [{"volatility": -0.2}, {"maturity": (2.0, 1.0)}, {"strike": 0.0}, {"spot": (0.0, 1)},
     {"spot": 1.0}, {"volatility": (0.2,)}, {"maturity": (0.5, 1.0, 2.0)}],  # fmt: skip
)
def test_black_scholes_mc_refuses_bad_settings(bad):
    with pytest.raises(ValueError, match="black_scholes_mc: .* (positive|must)"):
        ng.datasets.black_scholes_mc(10, seed=0, **bad)


def test_paths_average_to_the_closed_form_price_delta_and_vega():
    n = 200_000
    data = ng.datasets.black_scholes_mc(n, seed=1, spot=(1.05, 1.05), volatility=(0.25, 0.25),
                                        rate=0.03, strike=1.1)  # fmt: skip
    for label, closed in [
        (data.payoff[:, 0], data.price[0, 0]),
        (data.differentials[:, 0], data.delta[0, 0]),
        (data.differentials[:, 1], data.vega[0, 0]),
    ]:
        assert abs(label.mean() - closed) < 4 * label.std() / math.sqrt(n)
    price, delta, vega = ng.datasets.black_scholes_call(1.05 / 1.1, 1.0, 0.03, 0.25)
    assert data.price[0, 0] == pytest.approx(1.1 * price) and data.delta[0, 0] == delta


def test_basket_closed_form_is_the_paths_mean_and_its_delta_the_price_slope():
    market = basket_market(5)
    x = np.full((1, 5), 1.02)
    price, delta = ng.datasets.bachelier_basket_call(x, market, 1.0, 1.0)
    root = np.linalg.cholesky(market.covariance)
    final = x + np.random.default_rng(0).standard_normal((200_000, 5)) @ root.T
    payoff = np.maximum(final @ market.weights - 1.0, 0)
    assert abs(payoff.mean() - price[0, 0]) < 4 * payoff.std() / math.sqrt(len(payoff))
    eps = 1e-6
    for i in range(5):
        step = np.zeros((1, 5))
        step[0, i] = eps
        up = ng.datasets.bachelier_basket_call(x + step, market, 1.0, 1.0)[0]
        down = ng.datasets.bachelier_basket_call(x - step, market, 1.0, 1.0)[0]
        assert delta[0, i] == pytest.approx(((up - down) / (2 * eps))[0, 0], rel=1e-6)
    data = ng.datasets.bachelier_basket(300, seed=2, dimensions=5)
    in_money = (data.differentials > 0).all(axis=1)
    np.testing.assert_array_equal(data.differentials[in_money], np.broadcast_to(
        market.weights, (in_money.sum(), 5)))  # fmt: skip
    assert ((data.payoff[:, 0] > 0) == in_money).all()


# --- the loss -----------------------------------------------------------------------------------


def _net(inputs=2, seed=0):
    return ng.Sequential(ng.Linear(inputs, 6, seed=seed), ng.Softplus(),
                         ng.Linear(6, 1, seed=seed + 1)).double()  # fmt: skip


def _rows(n=8, inputs=2):
    rng = np.random.default_rng(5)
    return rng.uniform(-1, 1, (n, inputs)), rng.standard_normal((n, 1 + inputs))


def test_loss_value_is_the_formula():
    model, (x, y) = _net(), _rows()
    loss = ng.DifferentialLoss(0.3, 0.6, value_scale=2.0, derivative_scale=[0.5, 3.0])
    xt = ng.tensor(x, requires_grad=True)
    value = loss(model(xt), y, inputs=xt).item()
    with ng.no_grad():
        f = model(x).data
    eps, slopes = 1e-6, np.empty_like(x)
    for j in range(2):
        step = np.zeros(2)
        step[j] = eps
        with ng.no_grad():
            slopes[:, j] = ((model(x + step).data - model(x - step).data) / (2 * eps))[:, 0]
    expected = 0.3 * np.mean((2 * (f - y[:, :1])) ** 2) + 0.6 * np.mean(
        (np.array([0.5, 3.0]) * (slopes - y[:, 1:])) ** 2
    )
    assert value == pytest.approx(expected, rel=1e-7)
    assert "alpha=0.3" in repr(loss) and "[0.5, 3.0]" in repr(loss)


def test_loss_gradients_match_finite_differences_in_float64():
    model, (x, y) = _net(), _rows()
    loss = ng.DifferentialLoss.from_labels(y[:, :1], y[:, 1:])

    def of_parameters(*params):
        with ng.enable_grad():  # also inside gradcheck's finite differences
            xt = ng.tensor(x, requires_grad=True)
            return loss(model(xt), y, inputs=xt)

    assert ng.gradcheck(of_parameters, *model.parameters())


def test_from_labels_takes_the_papers_weights():
    y = np.array([[1.0], [3.0]])
    dydx = np.array([[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]])
    loss = ng.DifferentialLoss.from_labels(y, dydx)
    assert loss.alpha == pytest.approx(1 / 4) and loss.beta == pytest.approx(3 / 4)
    assert loss.value_scale == pytest.approx(1.0)  # 1/std
    np.testing.assert_allclose(loss.derivative_scale, [1 / math.sqrt(12.5), 1.0, 1.0])


def test_loss_errors_name_what_came():
    model, (x, y) = _net(), _rows()
    xt = ng.tensor(x, requires_grad=True)
    loss = ng.DifferentialLoss()
    with pytest.raises(TypeError, match="needs inputs="):
        loss(model(x), y)
    with pytest.raises(ng.ShapeError, match=r"expected targets \(N, 3\).*got shape \(8, 2\)"):
        loss(model(xt), y[:, :2], inputs=xt)
    with pytest.raises(ng.ShapeError, match="one output per row"):
        loss(ng.Linear(2, 2, seed=0).double()(xt), y, inputs=xt)
    with pytest.raises(ng.ShapeError, match="derivative_scale has 3 entries for 2 inputs"):
        ng.DifferentialLoss(derivative_scale=[1, 2, 3])(model(xt), y, inputs=xt)
    with pytest.raises(ValueError, match="alpha and beta"):
        ng.DifferentialLoss(alpha=0.0, beta=0.0)


def test_batch_statistics_are_refused_as_they_make_a_rows_slopes_take_in_the_others():
    """BatchNorm1d in training mode trained silently on slopes summed across the rows."""
    x, y = _rows()
    net = ng.Sequential(ng.Linear(2, 4, seed=0), ng.BatchNorm1d(4), ng.Softplus(),
                        ng.Linear(4, 1, seed=1)).double()  # fmt: skip
    xt = ng.tensor(x, requires_grad=True)
    with pytest.raises(ValueError, match="normalised by its batch's statistics.*LayerNorm"):
        ng.DifferentialLoss()(net(xt), y, inputs=xt)
    with pytest.raises(ValueError, match="normalised by its batch's statistics"):
        ng.fit(net, ng.DifferentialLoss(), ng.optim.SGD(net.parameters(), lr=0.01), x, y,
               epochs=1, batch_size=4, verbose=0)  # fmt: skip
    net.eval()  # running statistics: each row on its own
    assert np.isfinite(float(ng.DifferentialLoss()(net(xt), y, inputs=xt).data))


# --- through fit ----------------------------------------------------------------------------------


def _fit_data():
    data = ng.datasets.black_scholes_mc(256, seed=4)
    return data.x, np.hstack([data.payoff, data.differentials]), data


def test_fit_trains_on_values_and_derivatives_on_the_engine(tmp_path):
    x, y, data = _fit_data()
    loss = ng.DifferentialLoss.from_labels(data.payoff, data.differentials)
    net = _net(1)
    with pytest.raises(ng.CompileError, match="compile=True"):
        ng.fit(net, loss, ng.optim.Adam(net.parameters()), x, y, compile=True, verbose=0)

    def train(epochs, checkpoint=None):
        model = _net(1)
        seen = []
        history = ng.fit(
            model, loss, ng.optim.Adam(model.parameters(), lr=0.01), x, y, epochs=epochs,
            batch_size=32, seed=0, verbose=0, metrics=["mae"], validation_split=0.25,
            diagnostics=True, checkpoint=checkpoint,
            callbacks=[ng.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(dict(logs)))],
        )  # fmt: skip
        return model, history, seen

    model, history, seen = train(4)
    assert history["loss"][-1] < history["loss"][0] and len(seen) == 4
    assert {"val_loss", "mae", "val_mae"} <= set(seen[-1])
    assert any(key.startswith("grad_norm/") for key in seen[-1])
    train_rows = slice(0, 192)  # validation_split holds the last quarter
    scores = ng.evaluate(model, loss, x[train_rows], y[train_rows], metrics=["mae"])
    values = ng.predict(model, x[train_rows])
    assert scores["mae"] == pytest.approx(np.abs(values - y[train_rows, :1]).mean())
    scores = ng.evaluate(model, loss, x[192:], y[192:], metrics=["mae"])
    assert scores["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-9)
    with pytest.raises(TypeError, match="evaluate: sample_weight needs a loss that takes"):
        ng.evaluate(model, loss, x, y, sample_weight=np.arange(len(x)) % 2)  # not ignored
    folder = tmp_path / "run"
    train(2, ng.Checkpoint(folder))
    resumed, resumed_history, _ = train(4, ng.Checkpoint(folder))
    assert resumed_history["loss"] == history["loss"]
    for a, b in zip(resumed.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


DATA_PARALLEL = """
import json, os, sys
import numpy as np
import nudgenet as ng
data = ng.datasets.black_scholes_mc(256, seed=4)
model = ng.Sequential(ng.Linear(1, 6, seed=0), ng.Softplus(), ng.Linear(6, 1, seed=1)).double()
loss = ng.DifferentialLoss.from_labels(data.payoff, data.differentials)
history = ng.fit(model, loss, ng.optim.Adam(model.parameters(), lr=0.01), data.x,
                 np.hstack([data.payoff, data.differentials]), epochs=2, batch_size=32, seed=0,
                 verbose=0, metrics=["mae"], validation_split=0.25, distributed=True)
found = {k: v for k, v in history.history.items() if k != "seconds"}
with open(f"{sys.argv[1]}/{os.getpid()}.json", "w") as file:  # one per process
    json.dump(found, file)
"""


def test_data_parallel_fit_validates_a_differential_loss(tmp_path):
    """Under mpiexec, the validation rows' DifferentialLoss and metrics, as one process's."""
    from test_distributed import launch

    (tmp_path / "two").mkdir()
    (tmp_path / "one").mkdir()
    result, _ = launch(2, "-c", DATA_PARALLEL, str(tmp_path / "two"), timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    ranks = [json.loads(f.read_text()) for f in (tmp_path / "two").iterdir()]
    subprocess.run([sys.executable, "-c", DATA_PARALLEL, str(tmp_path / "one")], timeout=60,
                   check=True)  # fmt: skip
    (theirs,) = [json.loads(f.read_text()) for f in (tmp_path / "one").iterdir()]
    assert len(ranks) == 2 and {"val_loss", "val_mae"} <= set(theirs)
    for ours in ranks:  # every rank's History
        assert set(ours) == set(theirs)
        for key, values in theirs.items():
            np.testing.assert_allclose(ours[key], values, rtol=1e-6, err_msg=key)


# --- the command line and the example -------------------------------------------------------------


def test_train_command_differential(tmp_path):
    common = ("train", "--dataset", "black-scholes-mc", "--samples", "600", "--epochs", "3",
              "--layers", "8", "--activation", "softplus", "--json", "-q")  # fmt: skip
    done = last_json(run(*common, "--differential", "-o", "d.safetensors", cwd=tmp_path))
    plain = last_json(run(*common, "-o", "v.safetensors", cwd=tmp_path))
    assert done["dataset"] == "black-scholes-mc" and done["saved"]
    assert done["test_loss"] != plain["test_loss"] and math.isfinite(done["test_loss"])
    model = ng.load(tmp_path / "d.safetensors")
    assert ng.predict(model, np.array([[1.0, 0.2, 1.0]])).shape == (1, 1)  # values, 3 inputs
    drawn = ng.datasets.black_scholes_mc(2, volatility=(0.1, 0.4), maturity=(0.25, 2.0))
    assert model.metadata["feature_names"] == list(drawn.columns)  # the data set's, named
    # the README's command as it stands: its defaults (softplus, adam) train, where relu and
    # sgd's rate and momentum diverged within the first epoch
    bare = last_json(run("train", "--dataset", "black-scholes-mc", "--differential", "--samples",
                         "1000", "--epochs", "1", "--json", "-q", "-o", "b.safetensors",
                         cwd=tmp_path))  # fmt: skip
    assert bare["stop_reason"] == "completed" and math.isfinite(bare["test_loss"])
    bad = run("train", "--differential", "--epochs", "1", cwd=tmp_path, check=False)
    assert bad.returncode == 2
    assert "--differential needs a data set with derivative labels" in bad.stderr


def test_example_differential_beats_value_only_at_1024_samples(tmp_path):
    r = results("differential_pricing", "--fast", "--plot", str(tmp_path / "f.png"))
    at_1024 = r["black_scholes"]["1024"]
    assert at_1024["ratio"]["price_rmse"] <= 0.6 and at_1024["ratio"]["delta_mae"] <= 0.33
    basket = r["basket"]
    assert basket["dimensions"] >= 5
    assert basket["ratio"]["price_rmse"] < at_1024["ratio"]["price_rmse"]  # the gap is larger
    assert basket["ratio"]["delta_mae"] < at_1024["ratio"]["delta_mae"]
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_value_only_targets_are_refused_by_their_own_shape_before_training():
    """It said "got shape (32, 1)", the first batch's, once training had started."""
    d = ng.datasets.black_scholes_mc(256, seed=1, volatility=(0.1, 0.4))
    model = ng.Sequential(ng.Linear(2, 8, seed=0), ng.Softplus(), ng.Linear(8, 1, seed=1)).double()
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(ng.ShapeError, match=r"expected targets \(N, 3\): .* got shape \(256, 1\)"):
        ng.fit(model, ng.DifferentialLoss.from_labels(d.payoff, d.differentials),
               ng.optim.Adam(model.parameters(), lr=0.01), d.x, d.payoff, epochs=2, verbose=0)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))


def test_a_model_trained_with_the_differential_loss_exports_its_values(tmp_path):
    """export_onnx(loss=DifferentialLoss()) said no classifier outputs are known for it."""
    import onnxruntime as ort  # the test extra installs it: missing, this fails

    model = ng.Sequential(ng.Linear(1, 8, seed=0), ng.Softplus(), ng.Linear(8, 1, seed=1))
    path = ng.export_onnx(model, tmp_path / "p.onnx", loss=ng.DifferentialLoss())
    x = np.linspace(-1, 1, 5, dtype=np.float32).reshape(-1, 1)
    served = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]  # fmt: skip
    np.testing.assert_allclose(served, ng.predict(model, x), rtol=1e-6)
