"""fit checks that the optimiser updates the model it trains (issue 11)."""

import warnings

import numpy as np
import pytest

import nudgenet as ng


def _data():
    x, y = ng.datasets.spirals(120, classes=3, seed=0)
    return x.astype(np.float32), y


def _model(seed=0):
    return ng.Sequential(ng.Linear(2, 16, seed=seed), ng.ReLU(), ng.Linear(16, 3, seed=seed + 1))


@pytest.mark.parametrize("compile", ["auto", False])
def test_an_optimizer_built_for_another_model_is_refused_in_one_line(compile):
    x, y = _data()
    model, other = _model(), _model(seed=5)
    optimizer = ng.optim.SGD(other.parameters(), lr=0.1)  # the mistake: another model's
    before = model.state_dict()
    with pytest.raises(ValueError) as error:
        ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=3, verbose=0,
               compile=compile)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("fit: the optimizer updates none of the model's 4 parameters")
    assert "model.parameters()" in message
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())


def test_an_optimizer_owning_some_parameters_warns_and_freezes_the_others():
    x, y = _data()
    model = _model()
    frozen = model[0].weight.data.copy()
    optimizer = ng.optim.SGD([model[0].bias, *model[2].parameters()], lr=0.1)
    with pytest.warns(UserWarning, match=r"updates 3 of the model's 4 parameters; 0\.weight "
                      r"stay fixed") as caught:
        history = ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=2, verbose=0)
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the fit call
    assert np.array_equal(model[0].weight.data, frozen) and len(history) == 2


def test_an_optimizer_owning_every_parameter_trains_without_a_warning():
    x, y = _data()
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.Adam(model, lr=0.01), x, y,
                         epochs=3, verbose=0)
    assert history["loss"][-1] < history["loss"][0]



def _frozen_first_layer_fit(compile, filtered=False):
    x, y = _data()
    model = _model()
    for p in model[0].parameters():
        p.requires_grad = False
    params = [p for p in model.parameters() if p.requires_grad] if filtered else model.parameters()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the frozen layer left out of the optimiser: on purpose
        ng.fit(model, ng.CrossEntropyLoss(), ng.optim.Adam(params, lr=0.01, weight_decay=0.1), x,
               y, epochs=2, seed=0, verbose=0, compile=compile)  # fmt: skip
    return model.state_dict()


@pytest.mark.parametrize("filtered", [False, True])
def test_a_frozen_layer_stays_where_it_is_on_either_backend(filtered):
    before = _model().state_dict()
    auto, engine = _frozen_first_layer_fit("auto", filtered), _frozen_first_layer_fit(False)
    for key in ("0.weight", "0.bias"):
        assert np.array_equal(auto[key], before[key]), key
    for key in engine:
        assert np.array_equal(auto[key], engine[key]), key
    assert not np.array_equal(auto["2.weight"], before["2.weight"])
