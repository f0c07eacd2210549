"""explain: one forward and one backward pass, keeping everything backprop computed."""

from __future__ import annotations

import numpy as np

from ..grad_mode import enable_grad
from ..nn.differential import wants_inputs
from ..nn.layers import Dropout, Linear, leaf_layers, trace
from ..nn.module import Module
from ..nn.normalization import BatchNorm1d, LayerNorm
from ..rows import example_rows, prepare_data, targets_for
from ..tensor import Tensor
from .report import ExampleGradient, Explanation, LayerTrace, ParameterNudge
from .state import flat_grads, grad_copy, preserved_state


def _target_rows(y, rows: slice):
    y = y.data if isinstance(y, Tensor) else np.asarray(y)
    return y[rows]


def _loss_name(loss_fn) -> str:
    return getattr(loss_fn, "__name__", None) or type(loss_fn).__name__


BEFORE_ACTIVATION = (BatchNorm1d, LayerNorm, Dropout)  # with or without parameters of their own


def _after(leaves: list, k: int) -> list:
    """The leaf layers between the Linear ``leaves[k]`` and its activation, with it: those of
    :data:`BEFORE_ACTIVATION` (normalisation, Dropout), then the first other layer (the
    activation); none past the next Linear."""
    chain = []
    for name, layer in leaves[k + 1 :]:
        if isinstance(layer, Linear):
            break
        chain.append((name, layer))
        if not isinstance(layer, BEFORE_ACTIVATION):
            break
    return chain


def _layer_traces(model: Module, x: Tensor, outputs: dict[str, Tensor]) -> list[LayerTrace]:
    """A LayerTrace for every Linear leaf layer, from :func:`trace`'s ``outputs`` of the forward
    of ``x`` (their gradients retained by the backward since): ``a`` is the output of the layers
    up to its activation (:func:`_after`), named by them (``"BatchNorm1d+ReLU"``; a Dropout,
    the identity in eval mode, unnamed), or ``z`` itself and ``"Identity"`` where none follow."""
    leaves = list(leaf_layers(model))
    inputs = [x] + [outputs[name] for name, _ in leaves[:-1]]  # what each leaf layer was given
    traces = []
    for k, (name, layer) in enumerate(leaves):
        if not isinstance(layer, Linear):
            continue
        z = outputs[name]
        chain = _after(leaves, k)
        named = [type(f).__name__ for _, f in chain if not isinstance(f, Dropout)]
        activation = "+".join(named) or "Identity"
        a = outputs[chain[-1][0]].data if chain else z.data
        bias = layer.bias
        traces.append(
            LayerTrace(
                name=name,
                activation=activation,
                inputs=inputs[k].data.reshape(-1, layer.in_features),
                z=z.data,
                a=a,
                delta=grad_copy(z),
                weight=layer.weight.data,
                weight_grad=grad_copy(layer.weight),
                bias_grad=None if bias is None else grad_copy(bias),
                frozen=tuple(k for k, p in layer.named_parameters() if not p.requires_grad),
            )
        )
    return traces


def _top_parameters(model: Module, traces: list[LayerTrace], top: int) -> list[ParameterNudge]:
    """The ``top`` parameter entries by ``|∂C/∂θ|``, of the parameters that get a gradient
    (frozen ones, ``requires_grad=False``, get none)."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    grads = flat_grads([p for _, p in named])
    order = np.argsort(-np.abs(grads), kind="stable")[:top]
    offsets = np.cumsum([0] + [p.size for _, p in named])
    by_layer = {t.name: t for t in traces}
    result = []
    for rank, flat_index in enumerate(order, start=1):
        k = int(np.searchsorted(offsets, flat_index, side="right") - 1)
        name, p = named[k]
        index = np.unravel_index(int(flat_index - offsets[k]), p.shape)
        layer, _, kind = name.rpartition(".")
        entry = ParameterNudge(
            rank=rank,
            parameter=name,
            layer=layer,
            kind=kind,
            index=tuple(int(i) for i in index),
            gradient=float(grads[flat_index]),
            value=float(p.data[index]),
        )
        trace = by_layer.get(layer)
        if trace is not None and kind == "weight":
            i, j = index
            entry.activation = float(trace.inputs[:, i].mean())
            entry.delta = float(trace.delta[:, j].mean())
        elif trace is not None and kind == "bias":
            entry.delta = float(trace.delta[:, index[0]].mean())
        result.append(entry)
    return result


def _per_example(model, loss_fn, x: np.ndarray, y, params, step: np.ndarray) -> tuple[list, float]:
    """Each row's own gradient gₙ = ∇θ C(xₙ, yₙ) and its cosine with the batch's gradient
    ``step`` = ḡ, the step the loss takes: the mean of the gₙ for a mean loss, their mean
    weighted as the loss weighs its rows otherwise (class weights); returns ‖ḡ‖ too."""
    grads, losses, wants = [], [], []
    for n in range(len(x)):
        for p in params:
            if p.grad is not None:
                p.grad.fill(0)
        out = model(x[n : n + 1])
        out.retain_grad()
        loss = loss_fn(out, _target_rows(y, slice(n, n + 1)))
        loss.backward()
        grads.append(flat_grads(params))
        losses.append(float(loss.data))
        wants.append(_most_wanted(-out.grad.reshape(-1)))
    g, mean = np.stack(grads).astype(np.float64), step.astype(np.float64)
    norms = np.linalg.norm(g, axis=1)
    mean_norm = float(np.linalg.norm(mean))
    cosines = g @ mean / np.maximum(norms * mean_norm, np.finfo(np.float64).tiny)
    examples = [
        ExampleGradient(n, losses[n], float(norms[n]), float(cosines[n]), *wants[n])
        for n in range(len(x))
    ]
    return examples, mean_norm


def _most_wanted(nudges: np.ndarray) -> tuple[int | None, str]:
    """The output an example most wants moved, and which way: the largest |nudge| (a positive
    one on a tie), "up" or "down" by its sign; ``(None, "none")`` where every nudge is 0,
    ``(None, "not finite")`` where one is NaN or infinite."""
    if not np.isfinite(nudges).all():
        return None, "not finite"
    size = np.abs(nudges)
    if not size.max() > 0:
        return None, "none"
    largest = np.flatnonzero(size == size.max())
    unit = int(next((k for k in largest if nudges[k] > 0), largest[0]))
    return unit, "up" if nudges[unit] > 0 else "down"


def explain(model: Module, loss_fn, x, y, top: int = 10, per_example: bool = True) -> Explanation:
    """One forward and backward pass of ``loss_fn(model(x), y)``, with everything backprop saw.

    ``x`` is one example (a 1-D row is treated as a batch of one) or a batch.  Returns an
    :class:`Explanation`: ``nudges = −∂C/∂a`` of the outputs, every Linear layer's ``δ = ∂C/∂z``
    and gradients, the ``top`` parameters by ``|∂C/∂θ|``, and, for a batch (with
    ``per_example``), each example's gradient against the batch's, the step the loss takes
    (one extra backward pass per row).  The model (values, ``.grad``, mode) is left as it was.
    Frozen parameters (``requires_grad=False``) get no gradient and are not ranked; their
    layers say so (``LayerTrace.frozen``), and still show δ.

    >>> import numpy as np, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(2, 3, seed=0), ng.Tanh(), ng.Linear(3, 2, seed=1))
    >>> e = ng.explain(model, ng.CrossEntropyLoss(), np.array([0.5, -1.0]), np.array([1]), top=3)
    >>> e.nudges.shape, len(e.layers), len(e.top)
    ((1, 2), 2, 3)
    >>> bool(e.nudges[0, 1] > 0 > e.nudges[0, 0])       # the true class's output should go up
    True
    """
    if top < 0:
        raise ValueError(f"explain: top must be >= 0, got {top}")
    if wants_inputs(loss_fn):
        raise TypeError(
            f"explain: {_loss_name(loss_fn)} weighs the outputs' derivatives in the inputs, so "
            "backprop's δ = ∂C/∂z are not its gradients; explain the values with MSELoss (as "
            "nudgenet explain does), and check its gradients with ng.nudge_test or "
            "ng.check_gradients"
        )
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("explain: expected a parameter with requires_grad=True, got none")
    x_arr, y = prepare_data(model, *example_rows(x, y))
    y = targets_for(model, loss_fn, x_arr, y)  # as fit takes them: (N,) for one output, too
    with preserved_state(model) as params, enable_grad():
        x_in = Tensor(x_arr, requires_grad=True)  # δ below frozen layers too
        out, outputs = trace(model, x_in)
        for output in (*outputs.values(), out):
            if output.requires_grad:
                output.retain_grad()  # δ = ∂C/∂z of every layer
        loss = loss_fn(out, y)
        loss.backward()
        traces = _layer_traces(model, x_in, outputs)
        nudges = -grad_copy(out)
        ranked = _top_parameters(model, traces, top)
        examples, mean_norm = [], None
        if per_example and len(x_arr) > 1:
            step = flat_grads(params)
            examples, mean_norm = _per_example(model, loss_fn, x_arr, y, params, step)
    probabilities = None
    if getattr(loss_fn, "task", None) == "classification":  # a loss that knows its task
        probabilities = loss_fn.probabilities(out.data.astype(np.float64))
    return Explanation(
        loss=float(loss.data),
        loss_name=_loss_name(loss_fn),
        x=x_arr,
        outputs=out.data.copy(),
        nudges=nudges,
        layers=traces,
        top=ranked,
        examples=examples,
        mean_grad_norm=mean_norm,
        probabilities=probabilities,
    )
