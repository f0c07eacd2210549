"""Seeing backprop: what one example (or a batch) asks of every output, layer and parameter.

:func:`explain` runs one forward and one backward pass and keeps everything backprop computed:

* the **output nudges**: ``nudge = −∂C/∂a`` for every output unit ``a`` of the network (for a digit
  classifier: which outputs the example wants to go up, which down, and by how much);
* for every ``Linear`` layer ℓ (``z = x W + b``, ``a = f(z)``): the error ``δ = ∂C/∂z``,
  ``∂C/∂W = xᵀ δ``, ``∂C/∂b = Σₙ δ`` and the layer's gradient norm ``‖(∂C/∂W, ∂C/∂b)‖₂``;
* the **top-k parameters** by ``|∂C/∂θ|``, with the activation ``xᵢ`` that feeds a weight ``Wᵢⱼ``
  and the δⱼ it meets: for one example ``∂C/∂Wᵢⱼ = xᵢ δⱼ`` — a bright input neuron has big leverage;
* for a batch: each example's own gradient ``gₙ = ∇θ C(xₙ, yₙ)`` against the batch average
  ``ḡ = mean gₙ`` (the mini-batch step), as the cosine similarity ``gₙ·ḡ / (‖gₙ‖ ‖ḡ‖)``.

:func:`nudge_test` checks the first-order picture: the step ``θ ← θ − ε g/‖g‖`` should change the
cost by ``−ε‖g‖``.  :func:`input_gradient` backpropagates to the inputs instead of the parameters
(``∂output/∂x``: the Greeks of a pricing network), through any preprocessing layer the model holds.

None of these functions changes the model: parameter values, ``.grad`` and train/eval mode are
as they were.

The package: :mod:`.report` holds what :func:`explain` returns, :mod:`.backprop` computes it,
:mod:`.probes` holds :func:`nudge_test` and :func:`input_gradient`, and :mod:`.state` keeps the
model as it was.
"""

from .backprop import explain
from .probes import NudgeTest, input_gradient, nudge_test
from .report import ExampleGradient, Explanation, LayerTrace, ParameterNudge
from .state import preserved_state

__all__ = [
    "explain",
    "nudge_test",
    "input_gradient",
    "Explanation",
    "ExampleGradient",
    "LayerTrace",
    "NudgeTest",
    "ParameterNudge",
    "preserved_state",
]
