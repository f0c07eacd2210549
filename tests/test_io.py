"""Model files: round trip, atomic writes, no code execution, clear errors."""

import json

import numpy as np
import pytest

import nudgenet as ng


def _model():
    return ng.Sequential(
        ng.Standardize([1.0, 2.0, 3.0], [0.5, 1.0, 2.0]),
        ng.Linear(3, 8, seed=0),
        ng.Tanh(),
        ng.Dropout(0.2, seed=0),
        ng.Linear(8, 8, seed=1),
        ng.LeakyReLU(0.1),
        ng.Linear(8, 4, bias=False, seed=2),
        ng.Softmax(),
        ng.Rescale([2.0, 0.5, 1.0, 3.0], [1.0, 0.0, -1.0, 0.25]),
    )


def test_round_trip_predicts_exactly_the_same(tmp_path):
    model = _model()
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    path = ng.save(model, tmp_path / "m.safetensors", metadata={"class_names": list("abcd")})
    loaded = ng.load(path)
    assert np.array_equal(ng.predict(loaded, x), ng.predict(model, x))
    assert loaded.metadata == {"class_names": list("abcd")}
    assert repr(loaded) == repr(model)
    assert not loaded.training


def test_float64_model_stays_float64(tmp_path):
    model = _model().double()
    loaded = ng.load(ng.save(model, tmp_path / "m.safetensors"))
    assert loaded.dtype == np.float64
    x = np.random.default_rng(1).normal(size=(4, 3))
    assert np.array_equal(ng.predict(loaded, x), ng.predict(model, x))


def test_file_is_safetensors_with_architecture_metadata(tmp_path):
    from safetensors import safe_open

    path = ng.save(_model(), tmp_path / "m.safetensors")
    with safe_open(str(path), framework="np") as f:
        header = f.metadata()
        assert sorted(f.keys()) == ["1.bias", "1.weight", "4.bias", "4.weight", "6.weight"]
    architecture = json.loads(header["architecture"])
    assert [layer["type"] for layer in architecture["layers"]][:3] == [
        "Standardize",
        "Linear",
        "Tanh",
    ]
    assert header["nudgenet_version"] == ng.__version__


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    ng.save(_model(), path)
    before = path.read_bytes()

    def broken_replace(*args):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        ng.save(ng.Sequential(ng.Linear(3, 2, seed=5)), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_bad_files_raise_model_file_errors(tmp_path):
    with pytest.raises(ng.ModelFileError, match="no model file"):
        ng.load(tmp_path / "absent.safetensors")
    path = ng.save(_model(), tmp_path / "m.safetensors")
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ng.ModelFileError, match="not a readable"):
        ng.load(truncated)
    from safetensors.numpy import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(foreign))
    with pytest.raises(ng.ModelFileError, match="not a nudgenet model"):
        ng.load(foreign)


def test_tied_weights_are_refused_rather_than_written_unreadable(tmp_path):
    shared = ng.Linear(3, 3, seed=0)
    with pytest.raises(ng.ModelFileError, match="tied weights"):
        ng.save(ng.Sequential(shared, ng.Tanh(), shared), tmp_path / "tied.safetensors")
    assert not (tmp_path / "tied.safetensors").exists()


def test_custom_modules_cannot_be_described():
    class Custom(ng.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="cannot describe a Custom"):
        ng.save(Custom(), "unused.safetensors")
