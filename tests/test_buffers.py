"""Module buffers (PyTorch's register_buffer): state that is saved and converted with the
parameters but is not one (no gradient, not in parameters(), not in an optimiser's flat buffer)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from safetensors import safe_open

import nudgenet as ng


class Counter(ng.Module):
    """A layer with one parameter, a persistent float buffer, an integer buffer and a
    non-persistent one."""

    def __init__(self):
        super().__init__()
        self.scale = ng.nn.Parameter(np.full(3, 2.0, np.float32))
        self.register_buffer("total", np.zeros(3, np.float32))
        self.register_buffer("steps", np.zeros((), np.int64))
        self.register_buffer("scratch", np.ones(3, np.float32), persistent=False)

    def forward(self, x):
        self.total += x.data.sum(axis=0) if isinstance(x, ng.Tensor) else x.sum(axis=0)
        self.steps += 1
        return x * self.scale


def test_buffers_are_attributes_listed_by_name_and_not_parameters():
    model = ng.Sequential(ng.Linear(3, 3, seed=0), Counter())
    assert isinstance(model[1].total, np.ndarray)
    assert [name for name, _ in model.named_buffers()] == ["1.total", "1.steps", "1.scratch"]
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.scale"]
    assert all(not isinstance(b, ng.Tensor) for b in model.buffers())
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    assert optimizer.flat_params.size == model.num_parameters() == 15  # no buffer in it


def test_state_dict_holds_parameters_and_persistent_buffers_module_by_module():
    model = ng.Sequential(ng.Linear(3, 3, seed=0), Counter())
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.scale", "1.total", "1.steps"]
    state = model.state_dict()
    state["1.total"][...] = 7.0  # a copy, not the buffer itself
    assert not model[1].total.any()


def test_load_state_dict_writes_buffers_in_place_and_names_a_missing_one():
    source, target = Counter(), Counter()
    source(np.ones((4, 3), np.float32))
    kept = target.total
    target.load_state_dict(source.state_dict())
    assert target.total is kept  # written into, not replaced
    np.testing.assert_array_equal(target.total, [4.0, 4.0, 4.0])
    assert target.steps == 1
    state = source.state_dict()
    del state["total"]
    with pytest.raises(KeyError, match=r"missing keys \['total'\]"):
        target.load_state_dict(state)
    with pytest.raises(ng.ShapeError, match="'total' expected shape"):
        target.load_state_dict({**source.state_dict(), "total": np.zeros(4)})


def test_buffers_get_no_gradient_and_no_optimiser_step_changes_them():
    model = ng.Sequential(Counter(), ng.Linear(3, 3, seed=0))
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    x = np.ones((2, 3), np.float32)
    optimizer.zero_grad()
    model(x).sum().backward()
    optimizer.step()
    np.testing.assert_array_equal(model[0].total, [2.0, 2.0, 2.0])  # only forward changed it
    assert model[0].scale.grad is not None and np.any(model[0].scale.grad)


def test_assigning_to_a_buffer_name_replaces_the_buffer():
    layer = Counter()
    layer.total = np.full(3, 5.0, np.float32)
    np.testing.assert_array_equal(layer.state_dict()["total"], [5.0, 5.0, 5.0])
    layer.total = None  # left out until an array comes back
    assert "total" not in layer.state_dict()
    with pytest.raises(TypeError, match="buffer 'steps' must be a NumPy array or None, got list"):
        layer.steps = [1]


def test_to_converts_floating_buffers_and_keeps_integer_ones():
    layer = Counter().double()
    assert layer.total.dtype == layer.scratch.dtype == np.float64
    assert layer.steps.dtype == np.int64
    assert layer.float().total.dtype == np.float32
    layer(np.ones((2, 3), np.float32))  # the converted buffer is the one forward updates
    np.testing.assert_array_equal(layer.state_dict()["total"], [2.0, 2.0, 2.0])


def test_a_module_without_parameters_takes_its_dtype_from_its_buffers():
    assert ng.BatchNorm1d(3, affine=False).double().dtype == np.float64
    assert ng.BatchNorm1d(3, affine=False, track_running_stats=False).dtype is None


def test_register_buffer_refuses_what_pytorch_refuses():
    class Early(ng.Module):
        def __init__(self):
            self.register_buffer("x", np.zeros(1))

    with pytest.raises(AttributeError, match="must call super"):
        Early()
    layer = Counter()
    with pytest.raises(KeyError, match="without '.'"):
        layer.register_buffer("a.b", np.zeros(1))
    with pytest.raises(KeyError, match="attribute 'scale' already exists"):
        layer.register_buffer("scale", np.zeros(1))
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        layer.register_buffer("training", np.zeros(1))
    with pytest.raises(TypeError, match="must be a NumPy array or None, got Tensor"):
        layer.register_buffer("t", ng.tensor([1.0]))


def test_repr_names_a_layers_buffers():
    assert repr(ng.BatchNorm1d(4)) == (
        "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
        "  # 8 params; buffers running_mean, running_var"
    )
    assert repr(ng.BatchNorm1d(4, affine=False)).endswith("# buffers running_mean, running_var")


def _batch_norm_model():
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.BatchNorm1d(4), ng.ReLU())
    rng = np.random.default_rng(0)
    for _ in range(3):
        model(rng.normal(2.0, 3.0, (8, 3)).astype(np.float32))
    return model


def test_model_files_hold_persistent_buffers_and_restore_them(tmp_path):
    model = _batch_norm_model()
    path = ng.save(model, tmp_path / "bn.safetensors")
    with safe_open(str(path), framework="np") as handle:
        names = set(handle.keys())
        np.testing.assert_array_equal(handle.get_tensor("1.running_var"), model[1].running_var)
    assert {"1.running_mean", "1.running_var"} <= names
    loaded = ng.load(path)
    np.testing.assert_array_equal(loaded[1].running_mean, model[1].running_mean)
    assert loaded[1].running_mean.dtype == np.float32
    assert ng.optim.SGD(loaded.parameters(), lr=0.1).flat_params.size == 3 * 4 + 4 + 2 * 4


def test_a_model_file_missing_a_buffer_is_refused_by_name(tmp_path):
    from safetensors.numpy import save_file

    path = ng.save(_batch_norm_model(), tmp_path / "bn.safetensors")
    with safe_open(str(path), framework="np") as handle:
        header = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    del tensors["1.running_var"]
    save_file(tensors, str(tmp_path / "cut.safetensors"), metadata=header)
    with pytest.raises(ng.ModelFileError, match=r"missing \['1.running_var'\]"):
        ng.load(tmp_path / "cut.safetensors")


def test_copies_and_gradient_checks_leave_the_buffers_alone():
    model = _batch_norm_model()
    before = model.state_dict()
    twin = copy.deepcopy(model)
    twin(np.ones((4, 3), np.float32))  # training mode: moves the copy's running statistics
    assert not np.array_equal(twin[1].running_mean, model[1].running_mean)
    x = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    report = ng.check_gradients(model, ng.MSELoss(), x, np.zeros((6, 4), np.float32))
    assert report.passed
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
