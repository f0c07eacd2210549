"""Model files: round trip, atomic writes, no code execution, clear errors."""

import json
import tracemalloc
import warnings

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
        ng.Unstandardize([1.0, 0.0, -1.0, 0.25], [2.0, 0.5, 1.0, 3.0]),
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


def test_saving_onto_a_folder_names_the_folder_not_a_temporary_file(tmp_path):
    (tmp_path / "models").mkdir()
    model = ng.Sequential(ng.Linear(2, 1, seed=0))
    with pytest.raises(IsADirectoryError, match=r"models is a folder; expected the path of a file"):
        ng.save(model, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == [] and sorted(tmp_path.iterdir()) == [
        tmp_path / "models"
    ]  # no temporary file left beside it


def test_bad_files_raise_model_file_errors(tmp_path):
    with pytest.raises(ng.ModelFileError, match=r"is a folder, not a model file; name a "):
        ng.load(tmp_path)  # it said "no model file at" the folder
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


def test_tied_weights_are_not_rebuilt_apart_but_loaded_into_a_model(tmp_path):
    # issue 11: saving them once raised; they are now saved as weights, never rebuilt untied
    shared = ng.Linear(3, 3, seed=0)
    path = ng.save(ng.Sequential(shared, ng.Tanh(), shared), tmp_path / "tied.safetensors")
    with pytest.raises(ng.ModelFileError, match="tied weights"):
        ng.load(path)
    again = ng.Linear(3, 3, seed=1)
    loaded = ng.load(path, model=ng.Sequential(again, ng.Tanh(), again))
    assert loaded[0] is loaded[2] and np.array_equal(loaded[0].weight.data, shared.weight.data)


def test_custom_modules_cannot_be_described():
    class Custom(ng.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="cannot describe a Custom"):
        ng.nn.describe(Custom())


def test_parameter_shapes_are_read_from_the_architecture_as_built():
    model = ng.Sequential(_model(), ng.Sequential(ng.Linear(4, 5, seed=3), ng.ReLU()))
    shapes = ng.nn.config.parameter_shapes(ng.nn.config.describe(model))
    assert shapes == {name: p.shape for name, p in model.named_parameters()}
    assert "1.0.weight" in shapes and "0.6.bias" not in shapes  # nested; bias=False


def _crafted(tmp_path, change_architecture, change_tensors=lambda tensors: tensors):
    """A model file whose header or tensors were edited after saving."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.ReLU(), ng.Linear(4, 2, seed=1))
    path = ng.save(model, tmp_path / "m.safetensors")
    with safe_open(str(path), framework="np") as f:
        header = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    architecture = json.loads(header["architecture"])
    change_architecture(architecture)
    header["architecture"] = json.dumps(architecture)
    crafted = tmp_path / "crafted.safetensors"
    save_file(change_tensors(tensors), str(crafted), metadata=header)
    return crafted


def _declare_first_layer(units):
    def change(architecture):  # Linear(units, units) where the file holds Linear(3, 4)'s weights
        architecture["layers"][0].update(in_features=units, out_features=units)

    return change


def test_a_file_declaring_a_large_layer_fails_before_allocating_it(tmp_path):
    crafted = _crafted(tmp_path, _declare_first_layer(2000))
    tracemalloc.start()
    try:
        with pytest.raises(ng.ModelFileError) as info:
            ng.load(crafted)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # a built 2000x2000 layer alone takes 16 MB (32 MB drawn in float64)
    assert "tensor '0.weight' has shape (3, 4), the architecture declares (2000, 2000)" in str(
        info.value
    )


def test_a_file_declaring_a_huge_layer_is_a_model_file_error(tmp_path):
    crafted = _crafted(tmp_path, _declare_first_layer(10**6))  # 8 TB drawn in float64
    with pytest.raises(ng.ModelFileError, match=r"declares \(1000000, 1000000\)"):
        ng.load(crafted)


def test_tensor_names_and_dtypes_must_match_the_architecture(tmp_path):
    def keep(architecture):
        pass

    def drop_bias(tensors):
        return {k: v for k, v in tensors.items() if k != "2.bias"}

    def half(tensors):
        return {k: v.astype(np.float16) for k, v in tensors.items()}

    def mixed(tensors):
        return {**tensors, "2.bias": tensors["2.bias"].astype(np.float64)}

    with pytest.raises(ng.ModelFileError, match=r"missing \['2.bias'\], unexpected \[\]"):
        ng.load(_crafted(tmp_path, keep, drop_bias))
    with pytest.raises(ng.ModelFileError, match="all float32 or all float64, got float16"):
        ng.load(_crafted(tmp_path, keep, half))
    with pytest.raises(ng.ModelFileError, match="got float32, float64"):
        ng.load(_crafted(tmp_path, keep, mixed))


def test_files_from_before_the_vocabulary_was_settled_still_load(tmp_path):
    """An old file: Standardize described with "std", and Rescale(scale, offset), which computed
    x·scale + offset: now Unstandardize(mean=offset, scale)."""
    from safetensors.numpy import save_file

    architecture = {
        "type": "Sequential",
        "layers": [
            {"type": "Standardize", "mean": [1.0, 2.0], "std": [2.0, 4.0]},
            {"type": "Linear", "in_features": 2, "out_features": 1, "bias": True},
            {"type": "Rescale", "scale": [3.0], "offset": [10.0]},
        ],
    }
    header = {
        "format": "nudgenet-model",
        "format_version": "1",
        "nudgenet_version": "0.1.0",
        "architecture": json.dumps(architecture),
        "metadata": "{}",
    }
    weight, bias = np.array([[0.5], [-1.0]]), np.array([0.25])
    path = tmp_path / "old.safetensors"
    save_file({"1.weight": weight, "1.bias": bias}, str(path), metadata=header)
    model = ng.load(path)
    assert [type(layer).__name__ for layer in model] == ["Standardize", "Linear", "Unstandardize"]
    np.testing.assert_array_equal(model[0].scale, [2.0, 4.0])
    np.testing.assert_array_equal(model[2].mean, [10.0])
    x = np.array([[3.0, 6.0], [-1.0, 0.0]])
    expected = (((x - [1.0, 2.0]) / [2.0, 4.0]) @ weight + bias) * 3.0 + 10.0
    np.testing.assert_allclose(ng.predict(model, x), expected, rtol=1e-12)
    assert ng.nn.describe(model)["layers"][2] == {
        "type": "Unstandardize",
        "mean": [10.0],
        "scale": [3.0],
    }


class _Scaled(ng.Module):
    """A layer with a constructor argument, put in the registry by the tests below."""

    def __init__(self, factor: float = 2.0):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def test_a_registered_layer_that_does_not_describe_its_arguments_is_not_saved(
    monkeypatch, tmp_path
):
    from nudgenet.nn import config

    monkeypatch.setitem(config.LAYERS, "_Scaled", _Scaled)
    with pytest.raises(
        NotImplementedError, match=r"_Scaled takes constructor arguments \(factor\)"
    ):
        ng.save(_Scaled(3.0), tmp_path / "scaled.safetensors")
    assert not (tmp_path / "scaled.safetensors").exists()

    class Required(_Scaled):
        def __init__(self, factor):
            super().__init__(factor)

        def get_config(self):
            return {}

    monkeypatch.setitem(config.LAYERS, "Required", Required)
    with pytest.raises(TypeError, match=r"returned \[\], which cannot rebuild.*'factor'"):
        config.describe(Required(3.0))

    class Misnamed(_Scaled):
        def get_config(self):
            return {"scale": self.factor}

    monkeypatch.setitem(config.LAYERS, "Misnamed", Misnamed)
    with pytest.raises(TypeError, match=r"returned \['scale'\], which cannot rebuild"):
        config.describe(ng.Sequential(ng.ReLU(), Misnamed(3.0)))


def test_may_write_is_set_and_restored():
    from nudgenet import files

    assert files.may_write() is True
    previous = files.set_may_write(False)
    try:
        assert previous is True and files.may_write() is False
    finally:
        files.set_may_write(previous)
    assert files.may_write() is True


def test_loading_into_a_model_of_other_layers_warns(tmp_path):
    """The weights of a ReLU network loaded into a Tanh one of the same shapes, silently, though
    the file records its layers."""
    saved = ng.Sequential(ng.Linear(2, 3, seed=0), ng.ReLU(), ng.Linear(3, 1, seed=1))
    ng.save(saved, tmp_path / "m.safetensors")
    other = ng.Sequential(ng.Linear(2, 3), ng.Tanh(), ng.Linear(3, 1))
    with pytest.warns(UserWarning, match=r"records other layers than the model given \(its "
                                         r"Linear, ReLU, Linear, the model's Linear, Tanh, "
                                         r"Linear\); the weights fit"):  # fmt: skip
        loaded = ng.load(tmp_path / "m.safetensors", model=other)
    assert np.array_equal(loaded[0].weight.data, saved[0].weight.data)
    dropped = ng.Sequential(ng.Linear(2, 3), ng.ReLU(), ng.Dropout(0.5), ng.Linear(3, 1))
    ng.save(dropped, tmp_path / "d.safetensors")
    with warnings.catch_warnings():  # the same layers, or only another setting: nothing to say
        warnings.simplefilter("error")
        ng.load(tmp_path / "m.safetensors", model=ng.Sequential(ng.Linear(2, 3), ng.ReLU(),
                                                                ng.Linear(3, 1)))  # fmt: skip
        ng.load(tmp_path / "d.safetensors", model=ng.Sequential(
            ng.Linear(2, 3), ng.ReLU(), ng.Dropout(0.1), ng.Linear(3, 1)))  # fmt: skip


class _Pair(ng.Module):
    def __init__(self):
        super().__init__()
        self.first, self.second = ng.Linear(2, 3, seed=0), ng.Linear(3, 1, seed=1)

    def forward(self, x):
        return self.second(self.first(x))


class _OtherPair(_Pair):
    def forward(self, x):
        return self.second(self.first(x).tanh())


def test_loading_into_another_module_class_of_the_same_layers_warns(tmp_path):
    """The container's class was left out of the comparison: a file of one custom module
    loaded into another of the same children without a word."""
    ng.save(_Pair(), tmp_path / "pair.safetensors")
    with pytest.warns(UserWarning, match=r"\(its _Pair\(Linear, Linear\), the model's "
                                         r"_OtherPair\(Linear, Linear\)\)"):  # fmt: skip
        ng.load(tmp_path / "pair.safetensors", model=_OtherPair())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ng.load(tmp_path / "pair.safetensors", model=_Pair())
        ng.load(tmp_path / "pair.safetensors", model=_pair_defined_in_a_function())


def _pair_defined_in_a_function() -> ng.Module:
    """A class of the same name defined in a function (qualified _pair_....<locals>._Pair)."""

    class _Pair(ng.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = ng.Linear(2, 3), ng.Linear(3, 1)

    return _Pair()


@pytest.mark.parametrize("record", ['{"type": "Sequential", "layers": 5}', '{"children": []}',
                                    "null", "[1, 2]", '{"class": 3}'])  # fmt: skip
def test_a_malformed_layer_record_loads_into_a_model_without_a_word(tmp_path, record):
    """The record only feeds a warning: a malformed one raised TypeError or AttributeError."""
    import safetensors.numpy as st

    model = ng.Sequential(ng.Linear(2, 1, seed=0))
    ng.save(model, tmp_path / "m.safetensors")
    tensors = st.load_file(tmp_path / "m.safetensors")
    metadata = {**_metadata_of(tmp_path / "m.safetensors"), "architecture": record}
    st.save_file(tensors, tmp_path / "bad.safetensors", metadata=metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = ng.load(tmp_path / "bad.safetensors", model=ng.Sequential(ng.Linear(2, 1)))
    assert np.array_equal(loaded[0].weight.data, model[0].weight.data)


def test_an_older_file_s_layer_names_are_today_s_for_the_warning(tmp_path):
    """A file of 0.1.0 records Unstandardize as Rescale: loading it into an Unstandardize model
    warned that what it computes differs."""
    import safetensors.numpy as st

    model = ng.Sequential(ng.Linear(2, 1, seed=0), ng.Unstandardize(mean=[1.0], scale=[2.0]))
    ng.save(model, tmp_path / "m.safetensors")
    metadata = _metadata_of(tmp_path / "m.safetensors")
    old = metadata["architecture"].replace('"Unstandardize"', '"Rescale"')
    assert '"Rescale"' in old
    st.save_file(st.load_file(tmp_path / "m.safetensors"), tmp_path / "old.safetensors",
                 metadata={**metadata, "architecture": old})  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ng.load(tmp_path / "old.safetensors", model=ng.Sequential(
            ng.Linear(2, 1), ng.Unstandardize(mean=[0.0], scale=[1.0])))  # fmt: skip


def _metadata_of(path) -> dict:
    """A safetensors file's metadata: the JSON header after its 8-byte little-endian length."""
    raw = path.read_bytes()
    return json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])["__metadata__"]


class Rescale(ng.Module):  # a user's class named as an older nudgenet layer
    def __init__(self):
        super().__init__()
        self.inner = ng.Linear(2, 1)


class Unstandardize(Rescale):  # another user's class, named as today's layer
    pass


def test_a_user_s_class_is_not_renamed_as_an_older_layer():
    """Only nudgenet's own layer records ("type") take today's names: a user's class Rescale
    compared equal to a user's class Unstandardize."""
    from nudgenet.io import _layer_types, outline

    assert _layer_types(outline(Rescale())) == "Rescale(Linear)"
    assert _layer_types(outline(Unstandardize())) == "Unstandardize(Linear)"
    assert _layer_types({"type": "Rescale"}) == "Unstandardize"
