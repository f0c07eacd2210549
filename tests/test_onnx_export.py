"""ONNX export: every registry layer, the examples' models and custom modules give, in
onnxruntime, the outputs of ``ng.predict`` within 1e-5 (float32) and 1e-12 (float64); the files
pass ``onnx.checker.check_model(full_check=True)``; a classifier's label and probabilities are
its loss's; what cannot be exported is refused with one line naming it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import nudgenet as ng
from nudgenet import cli
from nudgenet.cli import output as output_module
from nudgenet.export import IR_VERSION, OPSET
from nudgenet.nn import losses
from nudgenet.nn.config import LAYERS
from nudgenet.tensor import Function, as_tensor
from test_examples import mnist_dir
from test_layers_contract import EXAMPLES

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
REPO = Path(__file__).resolve().parents[1]


def session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def exported(model, tmp_path, name="model.onnx", **options):
    """``(session, model proto)`` of ``model`` exported to ``tmp_path / name``, checked."""
    path = ng.export_onnx(model, tmp_path / name, **options)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    return session(path), proto


def compare(model, tmp_path, x, dtype, **options) -> tuple[np.ndarray, np.ndarray]:
    """``(onnxruntime's output, ng.predict's)`` for the rows ``x``, the graph in ``dtype``."""
    model.to(dtype)
    x = np.asarray(x, dtype)
    runtime, _ = exported(model, tmp_path, dtype=dtype, features=x.shape[1], **options)
    (output, *_) = runtime.run(None, {"input": x})
    expected = ng.predict(model, x)
    assert output.dtype == dtype and output.shape == expected.shape
    return output, expected


def max_error(model, tmp_path, x, dtype, **options) -> float:
    """The largest |onnxruntime − ng.predict| over the rows ``x``, the graph in ``dtype``."""
    output, expected = compare(model, tmp_path, x, dtype, **options)
    return float(np.max(np.abs(output.astype(np.float64) - expected)))


def random_rows(features: int, rows: int = 64, seed: int = 0) -> np.ndarray:
    """Rows of standard normal values, a few of them large (±30: saturated activations)."""
    x = np.random.default_rng(seed).normal(size=(rows, features))
    x[:4] *= 30.0
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_registry_layer_exports_to_what_predict_gives(name, dtype, tmp_path):
    assert name in EXAMPLES, f"add an example of {name} to test_layers_contract.EXAMPLES"
    for build, features in EXAMPLES[name]:
        layer = build()
        error = max_error(layer, tmp_path, random_rows(features), dtype)
        assert error <= TOLERANCE[dtype], f"{name}: {error:.3g}"


def test_the_batch_dimension_is_dynamic_and_the_file_declares_opset_13(tmp_path):
    model = ng.Sequential(ng.Linear(4, 8, seed=0), ng.ReLU(), ng.Linear(8, 3, seed=1))
    runtime, proto = exported(model, tmp_path)
    assert [o.version for o in proto.opset_import] == [OPSET] == [13]
    assert proto.ir_version == IR_VERSION == 7
    (input_,) = proto.graph.input
    dims = input_.type.tensor_type.shape.dim
    assert input_.name == "input" and dims[0].dim_param == "batch" and dims[1].dim_value == 4
    assert [o.name for o in proto.graph.output] == ["output"]  # no loss known: no heads
    for rows in (1, 7, 1500):
        x = random_rows(4, rows, seed=rows).astype(np.float32)
        (output,) = runtime.run(None, {"input": x})
        np.testing.assert_allclose(output, ng.predict(model, x), rtol=0, atol=1e-5)
    assert {p.key: p.value for p in proto.metadata_props} == {"nudgenet_version": ng.__version__}
    again = ng.export_onnx(model, tmp_path / "again.onnx")
    assert again.read_bytes() == (tmp_path / "model.onnx").read_bytes()  # same model, same bytes


def loss_classes():
    return [
        cls
        for name, cls in vars(losses).items()
        if isinstance(cls, type) and name.endswith("Loss") and not name.startswith("_")
    ]


@pytest.mark.parametrize("loss_cls", loss_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("columns", [1, 3])
def test_a_classifier_gets_its_loss_label_and_probabilities(loss_cls, columns, tmp_path):
    loss = loss_cls()
    if loss.task == "regression" or (columns == 1 and loss_cls is losses.CrossEntropyLoss):
        return _test_no_heads(loss, columns, tmp_path)
    if columns == 1 and loss_cls is losses.CategoricalCrossEntropyLoss:
        with pytest.raises(ng.ExportError, match="two or more output columns"):
            ng.export_onnx(ng.Linear(4, 1, seed=0), tmp_path / "m.onnx", loss=loss)
        return None
    last = ng.Softmax() if loss_cls is losses.CategoricalCrossEntropyLoss else ng.Sigmoid()
    probabilities_out = loss_cls in (losses.CategoricalCrossEntropyLoss, losses.BCELoss)
    layers = [ng.Linear(4, columns, seed=0)] + ([last] if probabilities_out else [])
    model = ng.Sequential(*layers)
    x = random_rows(4, 200).astype(np.float32)
    x[-1] = 0.0  # a logit of exactly 0 (the binary-from-logits threshold) for a bias of 0
    model[0].bias.data[...] = 0.0
    names = ["no", "yes", "maybe"][: max(columns, 2)]  # one column: two classes
    runtime, proto = exported(model, tmp_path, loss=loss, class_names=names)
    output, label, probabilities = runtime.run(None, {"input": x})
    np.testing.assert_allclose(output, ng.predict(model, x), rtol=0, atol=1e-5)
    # the heads by the loss's own rules, from the graph's output (a saturated sigmoid's ties of
    # 1.0 may fall otherwise in onnxruntime's float32 Sigmoid than in NumPy's)
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, loss.predict_labels(output))  # several BCE: (N, C)
    np.testing.assert_allclose(probabilities, loss.probabilities(output), rtol=0, atol=1e-6)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == names
    assert props["loss"] == loss_cls.__name__ and props["task"] == "classification"
    return None


def _test_no_heads(loss, columns, tmp_path):
    model = ng.Linear(4, columns, seed=0)
    if loss.task == "regression":  # the output: the values the loss predicts (Poisson: means)
        runtime, proto = exported(model, tmp_path, loss=loss)
        assert [o.name for o in proto.graph.output] == ["output"]
        x = random_rows(4, 200).astype(np.float32) / 10  # no overflow in exp
        (output,) = runtime.run(None, {"input": x})
        expected = loss.predict_values(ng.predict(model, x))
        np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)
    else:
        with pytest.raises(ng.ExportError, match="two or more output columns"):
            ng.export_onnx(model, tmp_path / "m.onnx", loss=loss)


def test_a_loss_without_known_outputs_is_refused(tmp_path):
    class HingeLoss:
        pass

    with pytest.raises(ng.ExportError, match="no classifier outputs are known for the loss"):
        ng.export_onnx(ng.Linear(2, 2, seed=0), tmp_path / "m.onnx", loss=HingeLoss())


class Custom(ng.Module):
    """A forward of tensor arithmetic, reductions, reshapes and indexing, with a weight it
    derives from its parameters (a constant in the file)."""

    def __init__(self):
        super().__init__()
        self.w = ng.Parameter(np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))
        self.scale = ng.Parameter(np.array([0.5, 2.0, 1.5, 1.0], np.float32))
        self.head = ng.Linear(4, 3, seed=1)

    def forward(self, x):
        x = as_tensor(x)  # ng.predict passes arrays
        h = (x @ (self.w * 0.5)).tanh() * self.scale - 1.0 / (2.0 + x[:, 1:5].abs())
        h = h + h.mean(axis=1, keepdims=True) - h.max(axis=1, keepdims=True) / 3.0
        h = (h.reshape(len(x), 2, 2).transpose(0, -1, 1).reshape(len(x), -1)) ** 2  # ONNX: perm ≥ 0
        h = h + (-h).exp().sum(axis=1, keepdims=True) + x[:, 0].reshape(len(x), 1).exp().log()
        return ng.functional.log_softmax(self.head(h)) + ng.functional.leaky_relu(h[:, :3], 0.3)


def test_a_float32_model_exports_a_float64_graph_of_its_float64_statistics(tmp_path):
    """Traced in float32, the graph's Standardize constants came out rounded to float32: 2.9999999
    where the float64 model gives 3 (a trained file's outputs 9e-7 apart, not to rounding)."""
    model = ng.Sequential(ng.Standardize([0.1], [0.3]), ng.Linear(1, 1, seed=0))  # float32
    model[1].weight.data[...], model[1].bias.data[...] = 1.0, 0.0
    path = ng.export_onnx(model, tmp_path / "s.onnx", dtype="float64")
    x = np.array([[1.0], [-2.5]])
    served = session(path).run(None, {"input": x})[0]
    np.testing.assert_array_equal(served, ng.predict(model.double(), x))
    assert served[0, 0] == 3.0
    import threading

    model = ng.Sequential(ng.Linear(1, 1, seed=0))  # float32 (predict made the other float64)
    model.lock = threading.Lock()  # a model that cannot be copied: one line, not a TypeError
    with pytest.raises(ng.ExportError, match=r"^a float64 export of a float32 model \(or: export "
                       r"model\.double\(\)\) works on a float64 copy of the model, and this "
                       r"model cannot be copied \(TypeError: .*\)"):  # fmt: skip
        ng.export_onnx(model, tmp_path / "l.onnx", dtype="float64")
    ng.export_onnx(model, tmp_path / "l.onnx")  # float32: as it is


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_a_custom_module_of_exported_operations_exports(dtype, tmp_path):
    error = max_error(Custom(), tmp_path, random_rows(6) / 3.0, dtype)
    assert error <= TOLERANCE[dtype]


def test_a_custom_module_saved_with_its_outline_exports_once_loaded(tmp_path):
    model = Custom()
    ng.save(model, tmp_path / "custom.safetensors", metadata={"class_names": ["a", "b", "c"]})
    loaded = ng.load(tmp_path / "custom.safetensors", model=Custom())
    runtime, proto = exported(loaded, tmp_path, features=6, loss="CrossEntropyLoss",
                              feature_names=list("uvwxyz"))  # fmt: skip
    x = random_rows(6).astype(np.float32) / 3.0
    output, label, _ = runtime.run(None, {"input": x})
    np.testing.assert_allclose(output, ng.predict(model, x), rtol=0, atol=1e-5)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == ["a", "b", "c"]  # from the file's metadata
    assert json.loads(props["feature_names"]) == list("uvwxyz")
    assert props["nudgenet_version"] == ng.__version__ and props["task"] == "classification"


class Doubling(Function):
    """A primitive the exporter has no converter for."""

    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return (2 * g,)


class Wrapper(ng.Module):
    def __init__(self, forward):
        super().__init__()
        self.inner = ng.Linear(3, 3, seed=0)
        self._forward = forward

    def forward(self, x):
        return self._forward(self.inner(x))


REFUSED = [
    (lambda h: Doubling.apply(h), "layer 'outer.1' (Wrapper): the operation Doubling has no ONNX"),
    (lambda h: h + ng.Tensor(h.data**2), "traced on 2 and on 3 rows, the graphs differ"),
    (lambda h: ng.functional.dropout(h, 0.5, training=True), "the operation DropoutFunction"),
    (lambda h: h[np.array([0, 1])], "only slices and whole numbers"),
    (lambda h: ng.Tensor(h.data), "does not depend on its input through nudgenet's operations"),
    (lambda h: (h, h), "only a model returning one tensor can be exported"),
]


@pytest.mark.parametrize(("forward", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_what_cannot_be_exported_is_refused_in_one_line_naming_it(forward, message, tmp_path):
    model = ng.Sequential()
    model.outer = ng.Sequential(ng.Linear(3, 3, seed=1), Wrapper(forward))
    with pytest.raises(ng.ExportError) as caught:
        ng.export_onnx(model, tmp_path / "m.onnx")
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert not (tmp_path / "m.onnx").exists()


class IndexingBetweenLayers(ng.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = ng.Linear(3, 3, seed=0), ng.Linear(2, 1, seed=1)

    def forward(self, x):
        return self.b(self.a(x)[:, np.array([0, 2])])  # fancy indexing in this forward


def test_an_operation_is_blamed_on_the_module_whose_forward_did_it_not_the_next_layer(tmp_path):
    """It named layer 'b', which only took the indexing's result as its input."""
    with pytest.raises(ng.ExportError, match=r"^cannot export the model \(IndexingBetweenLayers\)"
                                             r": indexing with"):  # fmt: skip
        ng.export_onnx(IndexingBetweenLayers(), tmp_path / "m.onnx", features=3)


def quick_fit(model, loss, x, y, epochs=2):
    optimizer = ng.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ng.fit(model, loss, optimizer, x, y, epochs=epochs, batch_size=64, seed=0, verbose=0)
    return model


def example_models():
    """The examples' networks, trained a little on their own kind of data: (name, model, loss,
    rows to compare on)."""
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import mnist_16_16
        import option_pricing
    finally:
        sys.path.remove(str(REPO / "examples"))
    folder = mnist_dir()
    if folder is not None:
        x, y = ng.datasets.mnist("test", data_dir=folder, download=False)
        x, y = x[:3000], y[:3000]
    else:  # the bundled 8x8 digits, padded to 784 pixels: real images all the same
        x, y = ng.datasets.digits()
        x = np.pad(x, ((0, 0), (0, 784 - x.shape[1])))
    cut = len(x) * 2 // 3  # train on the first two thirds, compare on the rest
    mnist = quick_fit(mnist_16_16.build_model(0), ng.CrossEntropyLoss(), x[:cut], y[:cut])
    prices = ng.datasets.black_scholes(2000, seed=0)
    pricing = option_pricing.build_model(prices.x, 16, 2, 0)
    pricing = quick_fit(pricing, ng.MSELoss(), prices.x, prices.price.reshape(-1, 1))
    sx, sy = ng.datasets.spirals(600, 3, 0.2, seed=0)
    spirals = ng.Sequential(ng.Linear(2, 32, seed=0), ng.Tanh(), ng.Linear(32, 32, seed=1),
                            ng.Tanh(), ng.Linear(32, 3, seed=2))  # fmt: skip
    spirals = quick_fit(spirals, ng.CrossEntropyLoss(), sx, sy, epochs=5)
    circle = np.random.default_rng(0).uniform(-1, 1, size=(500, 2)).astype(np.float32)
    inside = (np.sum(circle**2, axis=1) < 0.5).astype(np.float32)[:, None]
    sigmoid = ng.Sequential(ng.Linear(2, 8, seed=0), ng.Sigmoid(), ng.Linear(8, 1, seed=1),
                            ng.Sigmoid())  # fmt: skip
    sigmoid = quick_fit(sigmoid, ng.BCELoss(), circle, inside, epochs=5)
    return [
        ("mnist_16_16", mnist, ng.CrossEntropyLoss(), x[cut:]),
        ("option_pricing", pricing, ng.MSELoss(), prices.x[:500]),
        ("softmax_classifier", spirals, ng.CrossEntropyLoss(), sx),
        ("sigmoid_momentum", sigmoid, ng.BCELoss(), circle),
    ]


def test_the_examples_trained_models_export_to_what_predict_gives(tmp_path):
    """On real rows and on random ones drawn across the data's range; each output within the
    tolerance absolute, or relative where its size passes 1: float32 logits of ~20 summed from
    784 products are themselves ~1e-5 from the exact value, and two BLAS libraries summing in
    other orders differ by that much (float64: 1e-12 absolute and relative alike)."""
    for name, model, loss, x in example_models():
        rng = np.random.default_rng(1)
        noise = rng.uniform(x.min(axis=0), x.max(axis=0), size=(500, x.shape[1]))
        for dtype in (np.float32, np.float64):
            for rows in (x, noise):
                output, expected = compare(model, tmp_path, rows, dtype, loss=loss)
                tolerance = TOLERANCE[dtype]
                np.testing.assert_allclose(output, expected, rtol=tolerance, atol=tolerance,
                                           err_msg=f"{name}, {dtype.__name__}")  # fmt: skip
        model.to(np.float32)
        runtime, _ = exported(model, tmp_path, loss=loss)
        outputs = runtime.run(None, {"input": np.asarray(x, np.float32)})
        if loss.task == "classification":
            expected = ng.predict(model, np.asarray(x, np.float32))
            np.testing.assert_array_equal(outputs[1], loss.predict_labels(expected))
            probabilities = loss.probabilities(expected)
            np.testing.assert_allclose(outputs[2], probabilities, rtol=0, atol=1e-5)


def test_without_the_onnx_package_the_error_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r'^ONNX export needs onnx, an optional extra: pip '
                       r'install "nudgenet\[onnx\]"$'):  # fmt: skip
        ng.export_onnx(ng.Linear(2, 2, seed=0), tmp_path / "m.onnx")
    ng.save(ng.Linear(2, 2, seed=0), tmp_path / "m.safetensors")
    assert cli.main(["export", str(tmp_path / "m.safetensors"), str(tmp_path / "m.onnx")]) == 1
    expected = 'ONNX export needs onnx, an optional extra: pip install "nudgenet[onnx]"'
    assert capsys.readouterr().err == f"nudgenet export: error: {expected}\n"
    assert not (tmp_path / "m.onnx").exists()


def run_cli(*args, cwd):
    command = [sys.executable, "-m", "nudgenet", *map(str, args)]
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, check=False)


def test_the_export_command_writes_a_classifier_with_its_class_names(tmp_path):
    done = run_cli("train", "--dataset", "digits", "--epochs", "2", "-q", "-o", "d.safetensors",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = run_cli("export", "d.safetensors", "d.onnx", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outputs"] == ["output", "label", "probabilities"] and result["opset"] == 13
    proto = onnx.load(str(tmp_path / "d.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["class_names"]) == [str(d) for d in range(10)]
    model = ng.load(tmp_path / "d.safetensors")
    x, _ = ng.datasets.digits()
    output, label, probabilities = session(tmp_path / "d.onnx").run(None, {"input": x})
    expected = ng.predict(model, x)
    assert np.max(np.abs(output - expected)) <= 1e-5
    np.testing.assert_array_equal(label, expected.argmax(axis=1))
    done = run_cli("export", "d.safetensors", "d64.onnx", "--dtype", "float64", cwd=tmp_path)
    assert done.returncode == 0 and "ONNX model saved to d64.onnx" in done.stdout
    (output64, *_) = session(tmp_path / "d64.onnx").run(None, {"input": x.astype(np.float64)})
    assert np.max(np.abs(output64 - ng.predict(model.double(), x))) <= 1e-12
    done = run_cli("export", "nothing.safetensors", "n.onnx", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "nudgenet export: error: no model file at nothing.safetensors" in done.stderr


def test_the_export_command_refuses_an_output_it_would_destroy_or_cannot_write(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    ng.save(ng.Linear(2, 2, seed=0), "m.safetensors")
    before = (tmp_path / "m.safetensors").read_bytes()
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("")
    for output, problem in (
        ("folder", "output folder is a folder; expected an ONNX file path such as folder/"),
        ("file/m.onnx", "output file/m.onnx: file is a file, not a folder"),
    ):
        assert cli.main(["export", "m.safetensors", output]) == 1
        err = capsys.readouterr().err
        assert problem in err and err.count("\n") == 1, err
    # review 80: the model's own name (any but .onnx) is the usage mistake other names are
    assert cli.main(["export", "m.safetensors", "m.safetensors"]) == 2
    err = capsys.readouterr().err
    assert "cannot export to m.safetensors, a nudgenet model file: expected an ONNX file name " \
        "ending in .onnx, such as m.onnx" in err and err.count("\n") == 1, err
    assert (tmp_path / "m.safetensors").read_bytes() == before  # the model file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder", "m.safetensors"]
    # a file that is no ONNX model (arguments swapped or mistyped) was replaced, exit 0
    for name, content in (("old.onnx", b"not ONNX"), ("near.ONNX", b"\x08\x01")):  # 1 byte short
        (tmp_path / name).write_bytes(content)
        assert cli.main(["export", "m.safetensors", name]) == 1
        err = capsys.readouterr().err
        other = name.split(".")[0] + "-new.onnx"  # (not the refused name in another case)
        assert f"output {name} exists and is not an ONNX model; choose another, such as " \
            f"{other}" in err, err
        assert (tmp_path / name).read_bytes() == content
    # the name suggested is one no file has (old-new.onnx was suggested while it existed)
    (tmp_path / "old-new.onnx").write_bytes(b"not ONNX either")
    assert cli.main(["export", "m.safetensors", "old.onnx"]) == 1
    assert "choose another, such as old-new-2.onnx\n" in capsys.readouterr().err
    (tmp_path / "old-new.onnx").unlink()
    # a model file named .onnx: another name is suggested (it suggested the very name refused)
    (tmp_path / "m2.ONNX").write_bytes((tmp_path / "m.safetensors").read_bytes())
    assert cli.main(["export", "m.safetensors", "m2.ONNX"]) == 1
    assert "model file; choose another, such as m2-new.onnx\n" in capsys.readouterr().err
    (tmp_path / "m2.ONNX").unlink()
    # the .onnx name suggested for another output is taken (here by a model file): another one
    (tmp_path / "m.onnx").write_bytes((tmp_path / "m.safetensors").read_bytes())
    assert cli.main(["export", "m.safetensors", "m.safetensors"]) == 2
    assert "a nudgenet model file: expected an ONNX file name ending in .onnx, such as " \
        "m-new.onnx (see" in capsys.readouterr().err
    (tmp_path / "m.onnx").unlink()
    # an output not named .onnx: a data file given by mistake, a protobuf model of another kind
    for name, content in (("data.csv", b"f0,f1,label\n1,2,0\n"),
                          ("saved_model.pb", b"\x08\x01\x12"), ("model", None)):  # fmt: skip
        if content is not None:
            (tmp_path / name).write_bytes(content)
        assert cli.main(["export", "m.safetensors", name]) == 2  # a usage mistake, as --plot's
        err = capsys.readouterr().err
        stem = name.split(".")[0]
        assert err == f"nudgenet export: error: argument output: cannot export to {name}: " \
                      f"expected an ONNX file name ending in .onnx, such as {stem}.onnx (see " \
                      "nudgenet export --help)\n"  # fmt: skip
        assert content is None or (tmp_path / name).read_bytes() == content
    assert not (tmp_path / "model").exists()
    assert cli.main(["export", "m.safetensors", "m.onnx", "-q"]) == 0
    assert cli.main(["export", "m.safetensors", "m.onnx", "-q"]) == 0  # exported again: replaced
    (tmp_path / "empty.onnx").write_bytes(b"")  # nothing to lose
    assert cli.main(["export", "m.safetensors", "empty.onnx", "-q"]) == 0

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(output_module, "open", unreadable, raising=False)
    assert cli.main(["export", "m.safetensors", "m.onnx"]) == 1
    err = capsys.readouterr().err
    assert "output m.onnx cannot be read to tell what it holds (Permission denied)" in err


def test_names_that_do_not_fit_the_model_and_a_loss_class_are_refused_clearly(tmp_path):
    model = ng.Sequential(ng.Linear(4, 8, seed=0), ng.ReLU(), ng.Linear(8, 3, seed=1))
    loss = ng.CrossEntropyLoss()
    for options, message in (
        ({"class_names": ["a", "b"]}, "class_names: expected 3 names (one per class), got 2"),
        ({"class_names": ["a"]}, "class_names: expected 3 names (one per class), got 1"),
        ({"class_names": "abc"}, "class_names: expected a list of names, got the string 'abc'"),
        ({"feature_names": list("xyz")}, "feature_names: expected 4 names (one per input "
                                         "feature), got 3"),  # fmt: skip
    ):
        with pytest.raises(ng.ExportError, match=f"^{re.escape(message)}$"):
            ng.export_onnx(model, tmp_path / "m.onnx", loss=loss, **options)
    assert not (tmp_path / "m.onnx").exists()
    _, proto = exported(model, tmp_path, loss=ng.CrossEntropyLoss)  # the class: as its object
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["loss"] == "CrossEntropyLoss" and len(proto.graph.output) == 3
    binary = ng.Linear(4, 1, seed=0)  # one column of logits, two classes
    _, proto = exported(binary, tmp_path, loss=ng.BCEWithLogitsLoss(), class_names=["no", "yes"])
    assert json.loads({p.key: p.value for p in proto.metadata_props}["class_names"]) == [
        "no", "yes"]  # fmt: skip


def test_the_export_command_names_the_features_of_a_csv_file_s_header(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = "".join(f"{i % 7},{i % 5},{'cat' if i % 2 else 'dog'}\n" for i in range(60))
    (tmp_path / "pets.csv").write_text("height,weight,species\n" + rows)
    argv = ["train", "--dataset", "pets.csv", "--label-column", "species", "--epochs", "1"]
    assert cli.main([*argv, "-q", "-o", "pets.safetensors"]) == 0
    assert cli.main(["export", "pets.safetensors", "pets.onnx", "-q"]) == 0
    props = {p.key: p.value for p in onnx.load("pets.onnx").metadata_props}
    assert json.loads(props["feature_names"]) == ["height", "weight"]
    assert json.loads(props["class_names"]) == ["cat", "dog"]
    (tmp_path / "pets.csv").unlink()  # the data moved: the model file holds the names
    assert cli.main(["export", "pets.safetensors", "moved.onnx", "-q"]) == 0
    props = {p.key: p.value for p in onnx.load("moved.onnx").metadata_props}
    assert json.loads(props["feature_names"]) == ["height", "weight"]
    model = ng.load("pets.safetensors")  # a file written before the names were recorded:
    del model.metadata["feature_names"]  # the header, where the data still is, else none
    ng.save(model, "older.safetensors", metadata=model.metadata)
    assert cli.main(["export", "older.safetensors", "older.onnx", "-q"]) == 0
    assert "feature_names" not in {p.key for p in onnx.load("older.onnx").metadata_props}
