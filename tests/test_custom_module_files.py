"""Any Module can be saved, and loaded into a freshly built instance (issue 11)."""

import json

import numpy as np
import pytest

import nudgenet as ng


class ResMLP(ng.Module):
    """The issue's custom module: a stem, residual blocks in a ModuleList, a head."""

    def __init__(self, features=3, width=8, blocks=2, seed=0):
        super().__init__()
        self.stem = ng.Sequential(ng.Standardize([0.0] * features, [2.0] * features),
                                  ng.Linear(features, width, seed=seed))  # fmt: skip
        self.blocks = ng.ModuleList(ng.Linear(width, width, seed=seed + i + 1)
                                    for i in range(blocks))  # fmt: skip
        self.head = ng.Linear(width, 2, seed=seed + 9)

    def forward(self, x):
        h = self.stem(x).relu()
        for block in self.blocks:
            h = h + block(h).tanh()
        return self.head(h)


X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)


class TwoLayer(ng.Module):
    """A custom module with no container: saving it raised 'cannot describe a TwoLayer layer'."""

    def __init__(self, seed=0):
        super().__init__()
        self.hidden, self.out = ng.Linear(3, 5, seed=seed), ng.Linear(5, 1, seed=seed + 1)

    def forward(self, x):
        return self.out(self.hidden(x).tanh())


def test_the_issues_failure_a_custom_module_saves(tmp_path):
    path = ng.save(TwoLayer(), tmp_path / "two.safetensors")
    loaded = ng.load(path, model=TwoLayer(seed=3))
    assert np.array_equal(ng.predict(loaded, X), ng.predict(TwoLayer(), X))


def test_a_custom_module_is_saved_and_loaded_into_a_new_instance(tmp_path):
    model = ResMLP()
    ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model, lr=0.1), X, np.arange(20) % 2,
           epochs=2, verbose=0)  # fmt: skip
    path = ng.save(model, tmp_path / "res.safetensors", metadata={"note": "mine"})
    fresh = ResMLP(seed=5)  # other weights, the same names and shapes
    loaded = ng.load(path, model=fresh)
    assert loaded is fresh and not loaded.training and loaded.metadata == {"note": "mine"}
    assert np.array_equal(ng.predict(loaded, X), ng.predict(model, X))
    assert loaded.dtype == np.float32


def test_the_file_records_what_is_known_of_the_architecture(tmp_path):
    from safetensors import safe_open

    path = ng.save(ResMLP(), tmp_path / "res.safetensors")
    with safe_open(str(path), framework="np") as handle:
        header = handle.metadata()
        names = sorted(handle.keys())
    assert "architecture" not in header  # nothing nudgenet could rebuild on its own
    outline = json.loads(header["outline"])
    assert outline["class"] == "ResMLP" and outline["module"] == __name__
    assert list(outline["children"]) == ["stem", "blocks", "head"]
    assert outline["children"]["stem"] == ng.nn.describe(ResMLP().stem)  # describable parts
    blocks = outline["children"]["blocks"]
    assert blocks["class"] == "ModuleList"
    assert blocks["children"]["1"] == {"type": "Linear", "in_features": 8, "out_features": 8,
                                       "bias": True}  # fmt: skip
    assert names == sorted(ResMLP().state_dict())
    assert ng.io.read_metadata(path) == {}


def test_loading_a_custom_module_without_model_says_to_pass_one(tmp_path):
    path = ng.save(ResMLP(), tmp_path / "res.safetensors")
    with pytest.raises(ng.ModelFileError) as error:
        ng.load(path)
    message = str(error.value)
    assert "\n" not in message and "holds the weights of a ResMLP" in message
    assert message.endswith("ng.load(path, model=ResMLP(...))")


def test_loading_into_a_model_checks_names_and_shapes_strictly(tmp_path):
    path = ng.save(ResMLP(), tmp_path / "res.safetensors")
    cases = [
        (ResMLP(blocks=3), r"do not match the model ResMLP: missing \['blocks.2.bias', "
                           r"'blocks.2.weight'\], unexpected \[\]"),
        (ResMLP(blocks=1), r"missing \[\], unexpected \['blocks.1.bias', 'blocks.1.weight'\]"),
        (ResMLP(width=4), r"tensor 'stem.1.weight' has shape \(3, 8\), the model ResMLP "
                          r"declares \(3, 4\); tensor 'stem.1.bias' has shape \(8,\)"),
    ]  # fmt: skip
    for model, why in cases:
        before = model.state_dict()
        with pytest.raises(ng.ModelFileError, match=why) as error:
            ng.load(path, model=model)
        assert "\n" not in str(error.value) and str(error.value).startswith(str(path))
        assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())
    with pytest.raises(TypeError, match="model must be a Module instance, got type"):
        ng.load(path, model=ResMLP)


def test_a_buildable_file_also_loads_into_a_given_model(tmp_path):
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.ReLU(), ng.Linear(4, 2, seed=1))
    path = ng.save(model, tmp_path / "mlp.safetensors")
    target = ng.Sequential(ng.Linear(3, 4, seed=7), ng.ReLU(), ng.Linear(4, 2, seed=8))
    target.double()
    loaded = ng.load(path, model=target)
    assert loaded is target and loaded.dtype == np.float64  # the model keeps its dtype
    np.testing.assert_allclose(ng.predict(loaded, X), ng.predict(model, X), atol=1e-6)
    assert np.array_equal(ng.predict(ng.load(path), X), ng.predict(model, X))


def test_the_readme_custom_module_example_runs(tmp_path, monkeypatch):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("## Model files", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert 'ng.load("resmlp.safetensors", model=ResMLP())' in block
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme"}
    exec(compile(block, "README.md", "exec"), namespace)  # its assert checks the round trip
    assert [name for name, _ in namespace["restored"].named_parameters()][2] == "blocks.0.weight"
    with pytest.raises(ng.ModelFileError, match=r"model=ResMLP\(\.\.\.\)"):
        ng.load("resmlp.safetensors")
