"""`explain` figures for table data: a title that fits and says what the example was predicted,
features named by the CSV header, labelled ∂C/∂W panels with colour bars, never "Loss = 0"."""

import matplotlib  # noqa: F401  (the test extra installs it: missing, this fails)
import numpy as np
import pytest

import nudgenet as ng
from nudgenet import cli

HEADER = ["sepal_length", "sepal_width", "label", "petal_length", "petal_width"]


def title_of(figure) -> str:
    return figure._suptitle.get_text()


def fits(figure, artist) -> bool:
    """Whether ``artist`` is drawn inside the figure's width."""
    renderer = figure.canvas.get_renderer()
    figure.canvas.draw()
    box = artist.get_window_extent(renderer)
    return box.x0 >= 0 and box.x1 <= figure.bbox.width


def colour_bar_labels(figure) -> list[str]:
    return [ax.get_ylabel() for ax in figure.axes if ax.get_label() == "<colorbar>"]


@pytest.fixture(scope="module")
def table_figures(tmp_path_factory):
    """`nudgenet explain --out` on a model of a CSV whose label column sits between features;
    the figures it drew."""
    folder = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 3] > 1)
    rows = [[*r[:2], label, *r[2:]] for r, label in zip(x, y)]
    np.savetxt(folder / "flowers.csv", rows, delimiter=",", header=",".join(HEADER),
               comments="", fmt="%.4f")  # fmt: skip
    model = folder / "flowers.safetensors"
    assert cli.main(["train", "--dataset", str(folder / "flowers.csv"), "--layers", "6",
                     "--epochs", "5", "-q", "-o", str(model)]) == 0  # fmt: skip
    drawn = {}
    monkeypatch = pytest.MonkeyPatch()
    for name in ("plot_explanation", "plot_network"):
        draw = getattr(ng.plot, name)
        monkeypatch.setattr(ng.plot, name, lambda *a, _d=draw, _n=name, **k: drawn.setdefault(
            _n, _d(*a, **k)))  # fmt: skip
    try:
        assert cli.main(["explain", str(model), "--index", "2", "--out",
                         str(folder / "explain.png")]) == 0  # fmt: skip
    finally:
        monkeypatch.undo()
    return drawn


def test_table_features_are_named_by_the_csv_header(table_figures):
    figure = table_figures["plot_explanation"]
    features = [name for name in HEADER if name != "label"]
    inputs = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert [text.split(" = ")[0] for text in inputs] == features  # name = raw value
    gradients = next(ax for ax in figure.axes[2:] if ax.images)
    assert [t.get_text() for t in gradients.get_yticklabels()] == features
    network = [t.get_text() for t in table_figures["plot_network"].axes[0].texts]
    assert all(name in network for name in features)


def test_the_gradient_panels_have_labels_and_a_colour_bar(table_figures):
    figure = table_figures["plot_explanation"]
    gradients = next(ax for ax in figure.axes[2:] if ax.images)
    assert "hidden unit" in gradients.get_xlabel() and "∂C/∂W" in gradients.get_title()
    assert all(t.get_text().startswith("unit ") for t in gradients.get_xticklabels())
    assert any("∂C/∂W" in label for label in colour_bar_labels(figure))
    assert any("weight" in label for label in colour_bar_labels(table_figures["plot_network"]))


def test_the_title_fits_and_names_the_prediction_and_the_loss(table_figures):
    for figure in table_figures.values():
        title = title_of(figure)
        assert fits(figure, figure._suptitle), title
        assert "flowers.csv held-out row 2, target" in title and "/" not in title.split()[0]
        assert "predicted" in title and ("(p = 0." in title or "(p = 1." in title)
        assert "CrossEntropyLoss = " in title


def test_no_loss_of_0_for_a_confident_classifier():
    model = ng.Sequential(ng.Linear(2, 2, seed=0))
    model[0].weight.data[:] = [[100.0, -100.0], [0.0, 0.0]]
    model[0].bias.data[:] = 0
    e = ng.explain(model, ng.CrossEntropyLoss(), np.array([1.0, 0.0]), np.array(0))
    assert e.loss == 0.0  # float32 rounds -log(1 - e^-200) to 0
    title = title_of(ng.plot.plot_explanation(e))
    assert "= 0;" not in title and "= 0 " not in title and not title.endswith("= 0")
    assert "predicted 0 (p = 1.000)" in title and "CrossEntropyLoss < 1e-07" in title
    figure = ng.plot.plot_explanation(e, class_names=["cat", "dog"])
    assert "predicted cat (p = 1.000)" in title_of(figure)
    assert "CrossEntropyLoss < 1e-07 (0 in float32)" in str(e).splitlines()[0]
    assert [t.get_text() for t in figure.axes[1].get_xticklabels()] == ["cat", "dog"]


def test_image_gradients_share_one_scale_with_a_colour_bar():
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 8, seed=0), ng.Tanh(), ng.Linear(8, 10, seed=1))
    e = ng.explain(model, ng.CrossEntropyLoss(), x[3], y[3])
    figure = ng.plot.plot_explanation(e, units=4)
    images = [ax.images[0] for ax in figure.axes[2:] if ax.images]
    assert len(images) == 4 and len({image.get_clim() for image in images}) == 1
    assert any("∂C/∂W" in label for label in colour_bar_labels(figure))
    assert fits(figure, figure._suptitle)
