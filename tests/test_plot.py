"""Figures are written as valid, non-empty PNGs of the requested size."""

import struct
import zlib

import matplotlib  # noqa: F401  (the test extra installs it: missing, this fails)
import numpy as np
import pytest

import nudgenet as ng


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature and its CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    assert struct.unpack(">I", data[29:33])[0] == zlib.crc32(data[12:29])
    assert b"IDAT" in data and data.rstrip().endswith(b"IEND\xaeB`\x82")
    return struct.unpack(">II", data[16:24])


def png_pixels_vary(path):
    """Not a blank image: decode the first IDAT stream and check more than one byte value."""
    data, pos, chunks = path.read_bytes(), 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    return len(set(raw)) > 2


@pytest.fixture(scope="module")
def trained():
    x, y = ng.datasets.digits()
    model = ng.Sequential(ng.Linear(64, 12, seed=0), ng.ReLU(), ng.Linear(12, 10, seed=1))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = ng.fit(
        model,
        ng.CrossEntropyLoss(),
        optimizer,
        x,
        y,
        epochs=3,
        batch_size=64,
        validation_split=0.2,
        metrics=["accuracy"],
        seed=0,
        verbose=0,
        diagnostics=True,
    )
    return model, history, x, y


def epoch_ticks(ax):
    """The x ticks the axes shows (inside its limits)."""
    low, high = ax.get_xlim()
    return [float(t) for t in ax.get_xticks() if low <= t <= high]


def test_training_curves_and_gradient_norms(trained, tmp_path):
    _, history, _, _ = trained
    figure = ng.plot.plot_history(history, tmp_path / "curves.png", size=(800, 300))
    assert png_size(tmp_path / "curves.png") == (800, 300)
    assert png_pixels_vary(tmp_path / "curves.png")
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy"]
    assert len(figure.axes[0].lines) == 2  # train and validation
    norms = ng.plot.plot_gradient_norms(history, tmp_path / "norms.png")
    assert png_size(tmp_path / "norms.png") == (1000, 400)
    for ax in figure.axes + norms.axes:  # 3 epochs: ticks 1, 2, 3, never 1.5 or 2.5
        assert set(epoch_ticks(ax)) == {1.0, 2.0, 3.0}, epoch_ticks(ax)
    with pytest.raises(ValueError, match="diagnostics=True"):
        ng.plot.plot_gradient_norms({"loss": [1.0]})


def test_first_layer_weights_as_8x8_images(trained, tmp_path):
    model = trained[0]
    figure = ng.plot.plot_weights(model, tmp_path / "weights.png")
    assert png_size(tmp_path / "weights.png") == (700, 700)
    images = [ax.images[0].get_array() for ax in figure.axes if ax.images]
    assert len(images) == 12 and images[3].shape == (8, 8)
    np.testing.assert_allclose(images[3], model[0].weight.data[:, 3].reshape(8, 8), rtol=1e-6)
    mnist_like = ng.Sequential(ng.Linear(784, 4, seed=0))
    figure = ng.plot.plot_weights(mnist_like)
    assert [ax.images[0].get_array().shape for ax in figure.axes if ax.images] == [(28, 28)] * 4
    with pytest.raises(ValueError, match="image_shape"):
        ng.plot.plot_weights(ng.Sequential(ng.Linear(5, 2)))


def test_one_example_explanation_figure(trained, tmp_path):
    model, _, x, y = trained
    e = ng.explain(model, ng.CrossEntropyLoss(), x[7], y[7])
    figure = ng.plot.plot_explanation(e, tmp_path / "explain.png", units=4)
    assert png_size(tmp_path / "explain.png") == (1100, 700)
    assert png_pixels_vary(tmp_path / "explain.png")
    # independently, in float64: the forward pass, δ of each layer and ∂C/∂W₀ = x δ₁ᵀ
    (w0, b0), (w1, b1) = [(m.weight.data.astype(np.float64), m.bias.data) for m in model[::2]]
    row = x[7].astype(np.float64)
    h = np.maximum(row @ w0 + b0, 0)
    logits = h @ w1 + b1
    p = np.exp(logits - logits.max())
    p /= p.sum()
    delta2 = p - np.eye(10)[y[7]]
    grad_w0 = np.outer(row, (delta2 @ w1.T) * (h > 0))
    np.testing.assert_allclose(figure.axes[0].images[0].get_array(), row.reshape(8, 8))
    bars = [patch.get_height() for patch in figure.axes[1].patches]
    np.testing.assert_allclose(bars, -delta2, rtol=1e-5, atol=1e-7)
    grad_images = [ax.images[0].get_array() for ax in figure.axes[2:] if ax.images]
    strongest = np.argsort(-np.linalg.norm(grad_w0, axis=0))[:4]
    assert len(grad_images) == 4
    for image, unit in zip(grad_images, strongest):
        np.testing.assert_allclose(image, grad_w0[:, unit].reshape(8, 8), rtol=1e-4, atol=1e-7)


def test_explanation_figure_refuses_a_batch_whose_gradients_are_a_mean(trained):
    model, _, x, y = trained
    batch = ng.explain(model, ng.CrossEntropyLoss(), x[:5], y[:5], per_example=False)
    with pytest.raises(ValueError, match="expected an explanation of 1 row, got 5"):
        ng.plot.plot_explanation(batch)


def test_only_squares_of_side_8_or_more_are_taken_for_images():
    def input_panel(features, **kwargs):
        model = ng.Sequential(ng.Linear(features, 3, seed=0))
        e = ng.explain(model, ng.CrossEntropyLoss(), np.linspace(-1, 1, features), np.array(2))
        return ng.plot.plot_explanation(e, **kwargs).axes[0]

    for table in (4, 9, 49):  # tabular features whose count happens to be a square
        panel = input_panel(table)
        assert not panel.images and len(panel.patches) == table  # one bar per feature
    assert input_panel(64).images[0].get_array().shape == (8, 8)
    assert not input_panel(64, image_shape=False).images  # told: not an image
    assert input_panel(12, image_shape=(3, 4)).images[0].get_array().shape == (3, 4)
    with pytest.raises(ValueError, match="expected image inputs, got 9 input features"):
        ng.plot.plot_weights(ng.Sequential(ng.Linear(9, 2)))


def test_small_network_drawing(tmp_path):
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    e = ng.explain(model, ng.CrossEntropyLoss(), np.array([0.5, -1.0, 2.0]), np.array(1))
    figure = ng.plot.plot_network(model, e, tmp_path / "net.png")
    assert png_size(tmp_path / "net.png") == (1000, 650)
    edges = list(figure.axes[0].lines)
    assert len(edges) == 3 * 4 + 4 * 2
    widths = np.array([line.get_linewidth() for line in edges[:12]])
    grads = np.abs(e.layers[0].weight_grad).ravel()
    assert np.argmax(widths) == np.argmax(grads)  # thickness follows |∂C/∂W|
    assert [t.get_text() for t in figure.axes[0].texts][-3:] == [
        "input",
        "0 (Tanh)",
        "2 (Identity)",
    ]
    big = ng.Sequential(ng.Linear(64, 16), ng.ReLU(), ng.Linear(16, 10))
    with pytest.raises(ValueError, match="at most 10 units"):
        ng.plot.plot_network(big, ng.explain(big, ng.CrossEntropyLoss(), np.zeros(64), np.array(0)))


def test_network_drawing_says_its_inputs_are_standardised():
    mean, std, x = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 0.5]), np.array([2.0, -2.0, 4.0])
    model = ng.Sequential(
        ng.Standardize(mean, std), ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1)
    )
    e = ng.explain(model, ng.CrossEntropyLoss(), x, np.array(1))
    texts = [t.get_text() for t in ng.plot.plot_network(model, e).axes[0].texts]
    assert texts[-3:] == ["input after Standardize", "1 (Tanh)", "3 (Identity)"]
    assert texts[:3] == [f"{v:.2f}" for v in (x - mean) / std]  # the input nodes: 0.50 -1.00 2.00
    other = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    with pytest.raises(ValueError, match="layer '1' is not a Linear layer of the model"):
        ng.plot.plot_network(other, e)


def test_network_drawing_refuses_an_explanation_of_another_model_of_the_same_layout():
    def model(first_seed, last_seed):
        return ng.Sequential(
            ng.Linear(3, 4, seed=first_seed), ng.Tanh(), ng.Linear(4, 2, seed=last_seed)
        )

    e = ng.explain(model(0, 1), ng.CrossEntropyLoss(), np.array([0.5, -1.0, 2.0]), np.array(1))
    assert ng.plot.plot_network(model(0, 1), e)  # the same weights: the same model
    for other, layer in ((model(5, 1), "0"), (model(0, 5), "2")):
        with pytest.raises(ValueError, match=f"its layer '{layer}' has other weights than the"):
            ng.plot.plot_network(other, e)


def test_a_figure_is_written_atomically_and_a_failed_save_leaves_the_old_file(
    trained, tmp_path, monkeypatch
):
    """As the model files: a kill while saving (``--plot`` at the end of a long run) left a
    truncated PNG under the final name, which was opened and written in place."""
    from matplotlib.figure import Figure

    _, history, _, _ = trained
    old = tmp_path / "curves.png"
    ng.plot.plot_history(history, old)
    before = old.read_bytes()

    def interrupted(self, fname, **options):  # killed after a first write
        if hasattr(fname, "write"):
            fname.write(b"\x89PNG partial")
        else:
            with open(fname, "wb") as file:
                file.write(b"\x89PNG partial")
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(Figure, "savefig", interrupted)
        with pytest.raises(KeyboardInterrupt):
            ng.plot.plot_history(history, old)
    assert old.read_bytes() == before and sorted(tmp_path.iterdir()) == [old]
    ng.plot.plot_history(history, tmp_path / "named")  # no suffix: a PNG, named as matplotlib
    assert png_size(tmp_path / "named.png") == (1000, 400)
