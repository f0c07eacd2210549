"""ModuleList and ModuleDict register their modules; a plain list of Modules warns (issue 11)."""

import warnings

import numpy as np
import pytest

import nudgenet as ng


class ResMLP(ng.Module):
    """The issue's model: residual blocks held in a container."""

    def __init__(self, blocks, features=3, width=8):
        super().__init__()
        self.inp = ng.Linear(features, width, seed=0)
        self.blocks = blocks(ng.Linear(width, width, seed=i + 1) for i in range(2))
        self.out = ng.Linear(width, 1, seed=9)

    def forward(self, x):
        h = self.inp(x).relu()
        for block in self.blocks:
            h = h + block(h).relu()
        return self.out(h)


def test_a_plain_list_of_modules_warns_once_naming_the_attribute_and_the_fix():
    with pytest.warns(UserWarning) as caught:
        model = ResMLP(list)
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the assignment
    message = str(caught[0].message)
    assert message.startswith("ResMLP.blocks is a list holding Modules: they are not registered")
    assert "ng.ModuleList" in message and "\n" not in message
    assert len(model.parameters()) == 4  # what the warning is about: the blocks' are missing
    for value, kind in (((ng.ReLU(),), "tuple"), ({"a": ng.ReLU()}, "dict")):
        with pytest.warns(UserWarning, match=f"ResMLP.extra is a {kind} holding Modules"):
            model.extra = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.sizes, model.names, model.nothing = [1, 2], {"a": "b"}, []  # no Modules: quiet


def test_a_module_list_registers_its_modules_for_every_module_method():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ResMLP(ng.ModuleList)
    names = [name for name, _ in model.named_parameters()]
    assert names[2:6] == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias"]
    assert len(model.parameters()) == 8 and "blocks.1.weight" in model.state_dict()
    assert model.blocks[1] in list(model.modules())
    model.eval()
    assert not model.blocks[0].training
    model.train()
    assert model.blocks[1].training
    model.double()
    assert model.blocks[0].weight.dtype == np.float64
    model.blocks[0].weight.grad = np.ones((8, 8))
    model.zero_grad()
    assert not model.blocks[0].weight.grad.any()
    text = repr(model)
    assert "(blocks): ModuleList(\n    (0): Linear(8 -> 8)  # 72 params" in text
    assert text.endswith(f"Total parameters: {model.num_parameters():,}")


def test_fit_trains_the_layers_a_module_list_holds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:2]).astype(np.float32)
    model = ResMLP(ng.ModuleList)
    before = model.blocks[1].weight.data.copy()
    history = ng.fit(model, ng.MSELoss(), ng.optim.Adam(model.parameters(), lr=0.01), x, y,
                     epochs=20, batch_size=16, seed=0, verbose=0)  # fmt: skip
    assert not np.array_equal(model.blocks[1].weight.data, before)
    assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_module_list_has_pytorchs_list_operations():
    a, b, c, d = (ng.Linear(2, 2, seed=i) for i in range(4))
    layers = ng.ModuleList([a, b])
    assert layers.append(c) is layers and len(layers) == 3 and list(layers) == [a, b, c]
    layers.insert(1, d)
    assert list(layers) == [a, d, b, c] and layers[-1] is c and layers[np.int64(1)] is d
    assert list(layers._modules) == ["0", "1", "2", "3"]  # renumbered: names follow places
    assert layers.state_dict()["1.weight"] is not None
    part = layers[1:3]
    assert isinstance(part, ng.ModuleList) and list(part) == [d, b]
    del layers[0]
    assert list(layers) == [d, b, c] and layers.pop() is c and list(layers) == [d, b]
    layers[0] = a
    layers += [c]
    assert list(layers) == [a, b, c] and list(layers + ng.ModuleList([d])) == [a, b, c, d]
    del layers[:2]
    assert list(layers) == [c]
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias"]
    with pytest.raises(IndexError, match="ModuleList: index 3 is out of range for 1 modules"):
        layers[3]
    with pytest.raises(TypeError, match="ModuleList: an appended item must be a Module, got int"):
        layers.append(3)
    with pytest.raises(TypeError, match="ModuleList: item 1 must be a Module, got str"):
        ng.ModuleList([a, "b"])
    with pytest.raises(TypeError, match="indices must be ints or slices, got str"):
        layers["0"]
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        layers(np.zeros((1, 2)))


def test_module_dict_has_pytorchs_dict_operations():
    a, b, c = (ng.Linear(2, 2, seed=i) for i in range(3))
    heads = ng.ModuleDict({"a": a, "b": b})
    assert list(heads) == ["a", "b"] and heads["b"] is b and "a" in heads and len(heads) == 2
    heads["c"] = c
    assert list(heads.keys()) == ["a", "b", "c"] and list(heads.values()) == [a, b, c]
    assert [n for n, _ in heads.named_parameters()][:2] == ["a.weight", "a.bias"]
    assert heads.pop("a") is a and list(heads.items()) == [("b", b), ("c", c)]
    heads.update([("a", a)])
    del heads["b"]
    assert list(heads) == ["c", "a"] and ng.ModuleDict([("x", a)])["x"] is a
    heads.clear()
    assert len(heads) == 0 and heads.parameters() == []
    with pytest.raises(KeyError, match="ModuleDict: no module named 'z'; it has \\[\\]"):
        heads["z"]
    with pytest.raises(KeyError, match="keys must be non-empty strings without '.', got 'a.b'"):
        heads["a.b"] = a
    with pytest.raises(TypeError, match="the value of 'x' must be a Module, got float"):
        heads["x"] = 1.0


def test_containers_are_not_model_file_layers():
    assert "ModuleList" not in ng.nn.LAYERS and "ModuleDict" not in ng.nn.LAYERS
    with pytest.raises(TypeError, match="cannot describe a ModuleList"):
        ng.nn.describe(ng.ModuleList([ng.ReLU()]))
