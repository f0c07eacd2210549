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
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .nn.layers import Dropout, Linear, leaf_layers
from .nn.module import Module
from .tensor import Tensor, enable_grad, no_grad
from .train import prepare_data


# --- keeping the model as it was -------------------------------------------------------------
@contextlib.contextmanager
def preserved_state(model: Module) -> Iterator[list]:
    """Run a block with every parameter's ``.grad`` zeroed (in place, so flat-buffer views stay
    views) and the model in eval mode; afterwards the gradients and the mode are as before."""
    params = model.parameters()
    saved = [None if p.grad is None else p.grad.copy() for p in params]
    was_training = model.training
    for p in params:
        if p.grad is not None:
            p.grad.fill(0)
    model.eval()
    try:
        yield params
    finally:
        for p, grad in zip(params, saved):
            if grad is None:
                p.grad = None
            else:
                p.grad[...] = grad
        model.train(was_training)


def _target_rows(y, rows: slice):
    y = y.data if isinstance(y, Tensor) else np.asarray(y)
    return y[rows]


def _loss_name(loss_fn) -> str:
    return getattr(loss_fn, "__name__", None) or type(loss_fn).__name__


# --- what explain() returns --------------------------------------------------------------------
@dataclass
class LayerTrace:
    """One ``Linear`` layer ℓ and what backprop computed there for the explained rows.

    ``inputs`` is the activation feeding the layer ``x`` (N, in); ``z = x W + b`` and
    ``a = f(z)`` (N, out), ``f`` the activation layer that follows (``"Identity"`` if none);
    ``delta = ∂C/∂z`` (N, out); ``weight_grad = xᵀ δ`` (in, out); ``bias_grad = Σₙ δ`` (out,).
    """

    name: str
    activation: str
    inputs: np.ndarray
    z: np.ndarray
    a: np.ndarray
    delta: np.ndarray
    weight: np.ndarray
    weight_grad: np.ndarray
    bias_grad: np.ndarray | None

    @property
    def grad_norm(self) -> float:
        """‖(∂C/∂W, ∂C/∂b)‖₂ for this layer."""
        total = float(np.vdot(self.weight_grad, self.weight_grad))
        if self.bias_grad is not None:
            total += float(np.vdot(self.bias_grad, self.bias_grad))
        return total**0.5

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.weight.shape),
            "activation": self.activation,
            "grad_norm": self.grad_norm,
            "delta": self.delta.tolist(),
        }


@dataclass
class ParameterNudge:
    """One parameter entry ranked by ``|∂C/∂θ|``.  For a weight ``Wᵢⱼ`` of a Linear layer,
    ``activation`` is the batch mean of the input ``xᵢ`` that feeds it and ``delta`` the batch
    mean of ``δⱼ``; for one example ``gradient = activation · delta`` exactly."""

    rank: int
    parameter: str
    layer: str
    kind: str
    index: tuple[int, ...]
    gradient: float
    value: float
    activation: float | None = None
    delta: float | None = None

    @property
    def nudge(self) -> float:
        """−∂C/∂θ: the direction (and relative size) gradient descent moves this parameter."""
        return -self.gradient

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "parameter": self.parameter,
            "layer": self.layer,
            "kind": self.kind,
            "index": list(self.index),
            "gradient": self.gradient,
            "nudge": self.nudge,
            "value": self.value,
            "activation": self.activation,
            "delta": self.delta,
        }


@dataclass
class ExampleGradient:
    """What example ``index`` of a batch wants: its own loss, gradient norm ``‖gₙ‖``, the cosine
    of ``gₙ`` with the batch mean ``ḡ``, and the output unit it most wants raised."""

    index: int
    loss: float
    grad_norm: float
    cosine_with_mean: float
    wants_up: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Explanation:
    """What :func:`explain` found; ``str()`` is a readable report, ``to_dict()``/``to_json()`` the
    same as plain data.  ``nudges`` is ``−∂C/∂a`` of the outputs, shape (N, outputs)."""

    loss: float
    loss_name: str
    x: np.ndarray
    outputs: np.ndarray
    nudges: np.ndarray
    layers: list[LayerTrace]
    top: list[ParameterNudge]
    examples: list[ExampleGradient] = field(default_factory=list)
    mean_grad_norm: float | None = None

    @property
    def batch_size(self) -> int:
        return len(self.outputs)

    @property
    def output_nudges(self) -> np.ndarray:
        """The nudges summed over the rows, one per output unit: the push the whole (mean) cost
        gives each output.  For one example: that example's ``−∂C/∂a``."""
        return self.nudges.sum(axis=0)

    def ranked_outputs(self) -> list[tuple[int, float]]:
        """``(unit, nudge)`` for every output unit, the most wanted increase first."""
        push = self.output_nudges
        order = np.argsort(-push, kind="stable")
        return [(int(k), float(push[k])) for k in order]

    def to_dict(self) -> dict:
        return {
            "loss": self.loss,
            "loss_name": self.loss_name,
            "batch_size": self.batch_size,
            "outputs": self.outputs.tolist(),
            "nudges": self.nudges.tolist(),
            "ranked_outputs": [{"unit": k, "nudge": v} for k, v in self.ranked_outputs()],
            "layers": [layer.to_dict() for layer in self.layers],
            "top": [p.to_dict() for p in self.top],
            "examples": [e.to_dict() for e in self.examples],
            "mean_grad_norm": self.mean_grad_norm,
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        n = self.batch_size
        rows = [
            f"{'1 example' if n == 1 else f'{n} examples'}: {self.loss_name} = {self.loss:.6g}",
            "",
            "output nudges, nudge = -dC/da (+ wants the output up, - wants it down):",
        ]
        out = self.outputs.mean(axis=0)
        for unit, push in self.ranked_outputs():
            arrow = "up" if push > 0 else "down" if push < 0 else "-"
            rows.append(
                f"  output {unit:>3}  value {out[unit]:>+10.4f}  nudge {push:>+11.4e}  {arrow}"
            )
        rows += ["", "layers (delta = dC/dz):"]
        for layer in self.layers:
            d = np.abs(layer.delta).mean(axis=0)
            rows.append(
                f"  {layer.name or 'model':<6} {str(layer.weight.shape):<12}"
                f" -> {layer.activation:<9} |grad| {layer.grad_norm:.4e}"
                f"   mean |delta| {d.mean():.3e}"
                f" (largest at unit {int(np.argmax(d))})"
            )
        means = " (activation, delta: batch means)" if n > 1 else ""
        rows += ["", f"top {len(self.top)} parameters by |dC/dtheta|{means}:"]
        for p in self.top:
            index = ",".join(str(i) for i in p.index)
            feeds = (
                f"  activation {p.activation:+.4f} x delta {p.delta:+.4e}"
                if p.activation is not None
                else ""
            )
            rows.append(
                f"  {p.rank:>3}. {p.parameter}[{index}]  grad {p.gradient:+.4e}"
                f"  value {p.value:+.4f}{feeds}"
            )
        if self.examples:
            rows += [
                "",
                "each example's gradient g_n against the batch mean (cos = g_n . g / |g_n||g|):",
            ]
            for e in self.examples:
                rows.append(
                    f"  example {e.index:>4}  loss {e.loss:.4f}  |g_n| {e.grad_norm:.4e}"
                    f"  cos {e.cosine_with_mean:+.3f}  wants output {e.wants_up} up"
                )
            agree = np.mean([e.cosine_with_mean > 0 for e in self.examples])
            rows.append(f"  {agree:.0%} of the examples point within 90 degrees of the mean step")
        return "\n".join(rows)


# --- explain -----------------------------------------------------------------------------------
def _forward_trace(model: Module, x: Tensor):
    """Run the model layer by layer, retaining every intermediate gradient."""
    records = []
    h = x
    for name, layer in leaf_layers(model):
        inputs = h
        h = layer(h)
        if h.requires_grad:
            h.retain_grad()
        records.append((name, layer, inputs, h))
    return h, records


def _layer_traces(records) -> list[LayerTrace]:
    traces = []
    for k, (name, layer, inputs, z) in enumerate(records):
        if not isinstance(layer, Linear):
            continue
        following = records[k + 1] if k + 1 < len(records) else None
        if (
            following is not None
            and not following[1].parameters()
            and not isinstance(following[1], Dropout)  # the identity in eval mode
        ):
            activation, a = type(following[1]).__name__, following[3].data
        else:
            activation, a = "Identity", z.data
        zero = np.zeros_like(z.data)
        bias = layer.bias
        traces.append(
            LayerTrace(
                name=name,
                activation=activation,
                inputs=inputs.data.reshape(-1, layer.in_features),
                z=z.data,
                a=a,
                delta=zero if z.grad is None else z.grad.copy(),
                weight=layer.weight.data,
                weight_grad=_grad_copy(layer.weight),
                bias_grad=None if bias is None else _grad_copy(bias),
            )
        )
    return traces


def _grad_copy(p) -> np.ndarray:
    return np.zeros_like(p.data) if p.grad is None else p.grad.copy()


def _flat_grads(params) -> np.ndarray:
    return np.concatenate([_grad_copy(p).reshape(-1) for p in params])


def _top_parameters(model: Module, traces: list[LayerTrace], top: int) -> list[ParameterNudge]:
    named = list(model.named_parameters())
    grads = np.concatenate([_grad_copy(p).reshape(-1) for _, p in named])
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


def _per_example(model, loss_fn, x: np.ndarray, y, params) -> tuple[list, float]:
    """Each row's own gradient gₙ = ∇θ C(xₙ, yₙ) and its cosine with the mean ḡ."""
    grads, losses, wants = [], [], []
    for n in range(len(x)):
        for p in params:
            if p.grad is not None:
                p.grad.fill(0)
        out = model(x[n : n + 1])
        out.retain_grad()
        loss = loss_fn(out, _target_rows(y, slice(n, n + 1)))
        loss.backward()
        grads.append(_flat_grads(params))
        losses.append(float(loss.data))
        wants.append(int(np.argmax(-out.grad.reshape(-1))))
    g = np.stack(grads).astype(np.float64)
    mean = g.mean(axis=0)
    norms = np.linalg.norm(g, axis=1)
    mean_norm = float(np.linalg.norm(mean))
    cosines = g @ mean / np.maximum(norms * mean_norm, np.finfo(np.float64).tiny)
    examples = [
        ExampleGradient(n, losses[n], float(norms[n]), float(cosines[n]), wants[n])
        for n in range(len(x))
    ]
    return examples, mean_norm


def explain(model: Module, loss_fn, x, y, top: int = 10, per_example: bool = True) -> Explanation:
    """One forward and backward pass of ``loss_fn(model(x), y)``, with everything backprop saw.

    ``x`` is one example (a 1-D row is treated as a batch of one) or a batch.  Returns an
    :class:`Explanation`: ``nudges = −∂C/∂a`` of the outputs, every Linear layer's ``δ = ∂C/∂z``
    and gradients, the ``top`` parameters by ``|∂C/∂θ|``, and, for a batch (with
    ``per_example``), each example's gradient against the batch mean (one extra backward pass
    per row).  The model (values, ``.grad``, mode) is left as it was.

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
    x_arr = np.asarray(x.data if isinstance(x, Tensor) else x)
    if x_arr.ndim == 1:
        x_arr = x_arr[None, :]
        y_arr = np.asarray(y.data if isinstance(y, Tensor) else y)
        y = y_arr[None] if y_arr.ndim == 0 or (y_arr.dtype.kind == "f" and y_arr.ndim == 1) else y
    x_arr, y = prepare_data(model, x_arr, y)
    with preserved_state(model) as params, enable_grad():
        out, records = _forward_trace(model, Tensor(x_arr))
        out.retain_grad()
        loss = loss_fn(out, y)
        loss.backward()
        traces = _layer_traces(records)
        nudges = -(np.zeros_like(out.data) if out.grad is None else out.grad.copy())
        ranked = _top_parameters(model, traces, top)
        examples, mean_norm = [], None
        if per_example and len(x_arr) > 1:
            examples, mean_norm = _per_example(model, loss_fn, x_arr, y, params)
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
    )


# --- the nudge test ----------------------------------------------------------------------------
@dataclass
class NudgeTest:
    """The step ``θ ← θ − ε g/‖g‖`` (every parameter, ``g = ∂C/∂θ``): first-order prediction of
    the cost change ``−ε‖g‖`` against the actual change ``C(θ_new) − C(θ)``."""

    eps: float
    grad_norm: float
    cost_before: float
    cost_after: float
    dtype: str

    @property
    def predicted_change(self) -> float:
        return -self.eps * self.grad_norm

    @property
    def actual_change(self) -> float:
        return self.cost_after - self.cost_before

    @property
    def relative_error(self) -> float:
        """``|actual − predicted| / |predicted|`` (O(ε) for a smooth cost)."""
        predicted = self.predicted_change
        return abs(self.actual_change - predicted) / max(abs(predicted), 1e-300)

    def to_dict(self) -> dict:
        return {
            "eps": self.eps,
            "grad_norm": self.grad_norm,
            "cost_before": self.cost_before,
            "cost_after": self.cost_after,
            "predicted_change": self.predicted_change,
            "actual_change": self.actual_change,
            "relative_error": self.relative_error,
            "dtype": self.dtype,
        }

    def __str__(self) -> str:
        return (
            f"nudge test, step eps={self.eps:g} against the gradient (|g| = {self.grad_norm:.6g}, "
            f"{self.dtype}): cost {self.cost_before:.10g} -> {self.cost_after:.10g}; predicted "
            f"change -eps|g| = {self.predicted_change:+.6e}, actual {self.actual_change:+.6e} "
            f"(relative error {self.relative_error:.2e})"
        )


def nudge_test(model: Module, loss_fn, x, y, eps: float = 1e-4, float64: bool = True) -> NudgeTest:
    """Take the step ``θ ← θ − ε·g/‖g‖`` and compare the cost change with ``−ε‖g‖``.

    Works on a copy (in float64 unless ``float64=False``, in eval mode), so the model is never
    modified.  For small ε the two agree to O(ε): with ε = 1e-4 in float64, typically within
    0.01%.

    >>> import numpy as np, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    >>> x, y = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    >>> ng.nudge_test(model, ng.CrossEntropyLoss(), x, y, eps=1e-4).relative_error < 0.01
    True
    """
    if not eps > 0:
        raise ValueError(f"nudge_test: eps must be > 0, got {eps}")
    work = copy.deepcopy(model)
    if float64:
        work.double()
    work.eval()
    x, y = prepare_data(work, x, y)
    params = work.parameters()
    for p in params:
        p.grad = None
    with enable_grad():
        loss = loss_fn(work(x), y)
    loss.backward()
    norm = float(np.linalg.norm(_flat_grads(params).astype(np.float64)))
    if norm == 0:
        raise ValueError("nudge_test: the gradient is zero here; there is no downhill step")
    for p in params:
        if p.grad is not None:
            p.data -= (eps / norm) * p.grad
    with no_grad():
        after = float(loss_fn(work(x), y).data)
    return NudgeTest(float(eps), norm, float(loss.data), after, str(work.dtype))


# --- gradients with respect to the inputs ------------------------------------------------------
def input_gradient(model: Module, x, output: int | None = None) -> np.ndarray:
    """∂output/∂input for every row of ``x``, by backprop to the inputs (eval mode).

    Rows are independent in a feed-forward net, so one backward pass gives every row's gradient.
    Returns ``(N, features)`` for output column ``output`` (default: the only output of a
    one-output model), or, with ``output=None`` on a model with K > 1 outputs, the Jacobian
    ``(N, K, features)``.  Preprocessing inside the model (``Standardize``) is differentiated
    through, so the gradient is with respect to the raw inputs: for a pricing net taking
    (S/K, T, r, σ) and giving C/K, column 0 is delta and column 3 vega.

    >>> import numpy as np, nudgenet as ng
    >>> model = ng.Sequential(ng.Linear(2, 1, seed=0)).double()
    >>> bool(np.allclose(ng.input_gradient(model, np.ones((3, 2)))[0], model[0].weight.data[:, 0]))
    True
    """
    x = prepare_data(model, x)
    with preserved_state(model), enable_grad():
        xt = Tensor(np.array(x, copy=True), requires_grad=True)
        out = model(xt)
        if out.ndim != 2:
            raise ValueError(f"input_gradient: expected outputs (N, K), got shape {out.shape}")
        k_outputs = out.shape[1]
        if output is None and k_outputs == 1:
            output = 0
        columns = [output] if output is not None else list(range(k_outputs))
        for k in columns:
            if not -k_outputs <= k < k_outputs:
                raise IndexError(f"input_gradient: output {k} of a model with {k_outputs} outputs")
        grads = []
        for i, k in enumerate(columns):
            seed = np.zeros_like(out.data)
            seed[:, k] = 1
            xt.grad = None
            out.backward(seed, retain_graph=i + 1 < len(columns))
            grads.append(xt.grad.copy())
    return grads[0] if output is not None else np.stack(grads, axis=1)
