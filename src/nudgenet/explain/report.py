"""What :func:`~nudgenet.explain.explain` returns: the explanation and its parts, each readable
(``str``) and plain data (``to_dict``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LayerTrace:
    """One ``Linear`` layer ℓ and what backprop computed there for the explained rows.

    ``inputs`` is the activation feeding the layer ``x`` (N, in); ``z = x W + b`` and
    ``a = f(z)`` (N, out), ``f`` the layers that follow up to the activation, ``activation``
    their names (``"ReLU"``, ``"BatchNorm1d+ReLU"``; ``"Identity"`` if none);
    ``delta = ∂C/∂z`` (N, out); ``weight_grad = xᵀ δ`` (in, out); ``bias_grad = Σₙ δ`` (out,).
    ``frozen`` names the layer's parameters (``"weight"``, ``"bias"``) with
    ``requires_grad=False``: backprop gives them no gradient (their ``*_grad`` are zeros here,
    None in ``to_dict``), though δ is still computed.
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
    frozen: tuple[str, ...] = ()

    def _gradients(self) -> dict[str, np.ndarray]:
        """The gradients backprop computed: of the parameters that are not frozen."""
        grads = {"weight": self.weight_grad, "bias": self.bias_grad}
        return {k: g for k, g in grads.items() if g is not None and k not in self.frozen}

    @property
    def grad_norm(self) -> float | None:
        """‖(∂C/∂W, ∂C/∂b)‖₂ for this layer, of the parameters not frozen; None if all are."""
        grads = self._gradients()
        return sum(float(np.vdot(g, g)) for g in grads.values()) ** 0.5 if grads else None

    def grad_text(self) -> str:
        """``|grad| 1.2345e-01``, with the frozen parameters named; ``frozen`` if all are."""
        norm = self.grad_norm
        if norm is None:
            return "frozen (requires_grad=False)"
        frozen = f" ({' and '.join(self.frozen)} frozen)" if self.frozen else ""
        return f"|grad| {norm:.4e}{frozen}"

    def to_dict(self) -> dict:
        grads = {k: g.tolist() for k, g in self._gradients().items()}
        return {
            "name": self.name,
            "shape": list(self.weight.shape),
            "activation": self.activation,
            "grad_norm": self.grad_norm,
            "frozen": list(self.frozen),
            "inputs": self.inputs.tolist(),
            "z": self.z.tolist(),
            "a": self.a.tolist(),
            "delta": self.delta.tolist(),
            "weight": self.weight.tolist(),
            "weight_grad": grads.get("weight"),
            "bias_grad": grads.get("bias"),
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
    of ``gₙ`` with the batch's gradient ``ḡ`` (the step the loss takes: the mean of the ``gₙ``,
    weighted as the loss weighs rows, e.g. by class weights), and the output unit it most wants
    moved, ``wants`` (the largest |nudge|), and which way, ``direction``: ``"up"`` or ``"down"``
    by the nudge's sign (None and ``"none"`` where every nudge is 0, ``"not finite"`` where one
    is not)."""

    index: int
    loss: float
    grad_norm: float
    cosine_with_mean: float
    wants: int | None
    direction: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Explanation:
    """What :func:`explain` found; ``str()`` is a readable report, ``to_dict()``/``to_json()`` the
    same as plain data.  ``nudges`` is ``−∂C/∂a`` of the outputs, shape (N, outputs);
    ``probabilities`` (N, classes), for a classifier's loss, the loss's reading of the outputs
    (in float64), else None; ``mean_grad_norm`` the norm of the batch's gradient ḡ."""

    loss: float
    loss_name: str
    x: np.ndarray
    outputs: np.ndarray
    nudges: np.ndarray
    layers: list[LayerTrace]
    top: list[ParameterNudge]
    examples: list[ExampleGradient] = field(default_factory=list)
    mean_grad_norm: float | None = None
    probabilities: np.ndarray | None = None

    @property
    def predicted(self) -> np.ndarray | None:
        """Each row's most probable class (a classifier's loss), else None."""
        return None if self.probabilities is None else self.probabilities.argmax(axis=1)

    def loss_text(self, digits: int = 3) -> str:
        """``CrossEntropyLoss = 0.524``: the loss to ``digits`` significant digits; a loss that
        is exactly 0 in the outputs' precision (a confident, right classifier in float32) is
        said to be below that precision, not 0."""
        if self.loss != 0 or self.outputs.dtype.kind != "f":
            return f"{self.loss_name} = {self.loss:.{digits}g}"
        return (
            f"{self.loss_name} < {np.finfo(self.outputs.dtype).eps:.0e} (0 in {self.outputs.dtype})"
        )

    def summary(self, class_names: list[str] | None = None) -> str:
        """One line for a title: for one example, a classifier's predicted class (named from
        ``class_names`` where given) and its probability, or the outputs (4 significant
        digits); then :meth:`loss_text`."""
        parts = []
        if self.batch_size == 1 and self.probabilities is not None:
            k = int(self.predicted[0])
            name = class_names[k] if class_names is not None and k < len(class_names) else k
            parts.append(f"predicted {name} (p = {self.probabilities[0, k]:.3f})")
        elif self.batch_size == 1:
            parts.append("output " + ", ".join(f"{v:.4g}" for v in self.outputs[0]))
        return ", ".join([*parts, self.loss_text()])

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
            "x": self.x.tolist(),
            "outputs": self.outputs.tolist(),
            "nudges": self.nudges.tolist(),
            "ranked_outputs": [{"unit": k, "nudge": v} for k, v in self.ranked_outputs()],
            "layers": [layer.to_dict() for layer in self.layers],
            "top": [p.to_dict() for p in self.top],
            "examples": [e.to_dict() for e in self.examples],
            "mean_grad_norm": self.mean_grad_norm,
            "probabilities": None if self.probabilities is None else self.probabilities.tolist(),
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        n = self.batch_size
        rows = [
            f"{'1 example' if n == 1 else f'{n} examples'}: {self.loss_text(digits=6)}",
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
        if not self.layers:
            rows.append("  none: explain sees the Linear layers a Sequential applies in order, and "
                        "this model's forward is its own")  # fmt: skip
        for layer in self.layers:
            d = np.abs(layer.delta).mean(axis=0)
            rows.append(
                f"  {layer.name or 'model':<6} {str(layer.weight.shape):<12}"
                f" -> {layer.activation:<9} {layer.grad_text()}"
                f"   mean |delta| {d.mean():.3e}"
                f" (largest at unit {int(np.argmax(d))})"
            )
        means = " (activation, delta: batch means)" if n > 1 else ""
        rows += ["", f"top {len(self.top)} parameters by |dC/dtheta|{means}:"]
        for p in self.top:
            index = ",".join(str(i) for i in p.index)
            feeds = (  # one example's product is its gradient; a batch's means' is not
                f"  activation {p.activation:+.4f}{' x' if n == 1 else ','} delta {p.delta:+.4e}"
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
                "each example's gradient g_n against the batch's g (cos = g_n . g / |g_n||g|):",
            ]
            for e in self.examples:
                wants = f"output {e.wants} {e.direction}" if e.wants is not None else (
                    "no change" if e.direction == "none" else "? (its nudges are not finite)")
                rows.append(
                    f"  example {e.index:>4}  loss {e.loss:.4f}  |g_n| {e.grad_norm:.4e}"
                    f"  cos {e.cosine_with_mean:+.3f}  wants {wants}"
                )
            cosines = np.array([e.cosine_with_mean for e in self.examples])
            rows.append(
                f"  {np.mean(cosines > 0):.0%} of the examples point within 90 degrees of the mean "
                "step" if np.isfinite(cosines).all() else "  the cosines are not finite (a "
                "gradient is NaN or infinite)"
            )
        return "\n".join(rows)
