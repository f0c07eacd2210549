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

