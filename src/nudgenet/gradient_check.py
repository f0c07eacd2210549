"""Checking backprop against finite differences.

:func:`gradcheck` tests any function of tensors; :func:`gradgradcheck` the gradients of its
gradients (the recorded backward of ``create_graph=True``); :func:`check_gradients` tests a whole
model and loss, parameter by parameter, and returns a readable report.  All use central
differences ``(f(θ + ε) − f(θ − ε)) / 2ε`` in float64, whose error is O(ε²).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from .autograd import grad
from .backend import SeedLike, generator
from .errors import NudgenetError, ShapeError
from .grad_mode import enable_grad, no_grad
from .nn.copies import float64_copy
from .nn.differential import loss_value, model_loss
from .rows import example_rows, prepare_data, targets_for
from .tensor import Tensor


class GradcheckError(NudgenetError, AssertionError):
    """Backprop's gradient disagrees with the finite-difference estimate."""


def _projected(fn: Callable[..., Tensor], inputs, weights: np.ndarray) -> float:
    """s = Σ fn(inputs) ⊙ r: a scalar whose gradient is Jᵀr, so one backward checks the Jacobian."""
    with no_grad():
        return float((fn(*inputs).data * weights).sum())


def _numeric_grad(
    evaluate: Callable[[], float], values: np.ndarray, positions, eps: float
) -> np.ndarray:
    """Central differences of ``evaluate()`` w.r.t. ``values.flat[i]`` for each i in positions."""
    flat = values.flat  # writes through for any strides (reshape(-1) copies a transposed array)
    estimates = np.empty(len(positions))
    for k, i in enumerate(positions):
        original = flat[i]
        flat[i] = original + eps
        plus = evaluate()
        flat[i] = original - eps
        minus = evaluate()
        flat[i] = original
        estimates[k] = (plus - minus) / (2 * eps)
    return estimates


def _require_float64(kind: str, name: str, dtype) -> None:
    if dtype != np.float64:
        raise TypeError(
            f"gradient checks need float64 {kind}s (float32 rounding swamps the differences), "
            f"got {dtype} for {name}"
        )


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: SeedLike = 0,
    raise_exception: bool = True,
) -> bool:
    """Compare backprop's gradients of ``fn(*inputs)`` with central differences, for every
    element of every input that requires a gradient (float64 required).

    The output may have any shape: it is projected on fixed random weights r, so the check covers
    Jᵀr.  An element passes when ``|analytic − numeric| <= atol + rtol·|numeric|``.
    Returns True, or raises :class:`GradcheckError` naming the worst element (or returns False
    with ``raise_exception=False``).
    """
    checked = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i, t in checked:
        _require_float64("input", f"input {i}", t.dtype)
    out = fn(*inputs)
    weights = generator(seed).standard_normal(out.shape)
    saved = [t.grad for _, t in checked]
    for _, t in checked:
        t.grad = None
    failure = None
    try:
        out.backward(weights)
    except ShapeError as error:  # a backward rule giving a gradient of another shape
        failure = f"gradcheck: {error}"
    analytic = [np.zeros(t.shape) if t.grad is None else t.grad for _, t in checked]
    for (_, t), kept in zip(checked, saved):
        t.grad = kept
    if failure:
        return _failed(failure, raise_exception)
    for (i, t), a in zip(checked, analytic):
        numeric = _numeric_grad(
            lambda: _projected(fn, inputs, weights), t.data, range(t.size), eps
        ).reshape(t.shape)
        error = np.abs(a - numeric)
        bad = ~(error <= atol + rtol * np.abs(numeric))  # NaN fails too
        if bad.any():
            k = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(error, nan=np.inf), -1)),
                                 t.shape)  # fmt: skip
            return _failed(
                f"gradcheck: input {i} (shape {t.shape}) element {tuple(int(j) for j in k)}: "
                f"backprop gives {a[k]:.6g}, finite differences give {numeric[k]:.6g} "
                f"({int(bad.sum())} of {t.size} elements out of tolerance)",
                raise_exception,
            )
    return True


def _failed(message: str, raise_exception: bool) -> bool:
    """False, or :class:`GradcheckError` with ``message`` when ``raise_exception``."""
    if raise_exception:
        raise GradcheckError(message)
    return False


def _close(a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> bool:
    """Same shape, and every element within tolerance (NaN never is)."""
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def gradgradcheck(
    fn: Callable[..., Tensor],
    *inputs: Tensor,
    grad_outputs=None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: SeedLike = 0,
    raise_exception: bool = True,
) -> bool:
    """Check the second derivatives of ``fn(*inputs)`` (PyTorch's ``gradgradcheck``): the
    gradients v ↦ ∂⟨fn(inputs), v⟩/∂inputs, taken with ``create_graph=True``, are themselves
    checked by :func:`gradcheck`, with respect to the inputs and to v; first, their values are
    compared with the ordinary (array) backward's, since each primitive writes its rule twice.

    ``grad_outputs`` is v (a float64 array or tensor of the output's shape; default: seeded
    random normal values), which is also differentiated.  The gradients are projected on fixed
    random weights into one number, so one recorded backward checks every Hessian-vector
    product they hold.  Returns True, or raises :class:`GradcheckError` (False with
    ``raise_exception=False``).
    """
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input has requires_grad=True")
    rng = generator(seed)
    shape = fn(*inputs).shape
    if grad_outputs is None:
        grad_outputs = rng.standard_normal(shape)
    v = Tensor(np.array(grad_outputs.data if isinstance(grad_outputs, Tensor) else grad_outputs))
    _require_float64("grad_output", "grad_outputs", v.dtype)
    if v.shape != shape:
        raise ValueError(f"gradgradcheck: grad_outputs has shape {v.shape}, the output {shape}")
    out = fn(*inputs)
    try:
        recorded = grad(out, checked, v, create_graph=True, allow_unused=True)
        arrays = grad(out, checked, v, allow_unused=True)
    except ShapeError as error:  # a backward rule giving a gradient of another shape
        return _failed(f"gradgradcheck: {error}", raise_exception)
    for i, (r, a) in enumerate(zip(recorded, arrays)):
        if (r is None) != (a is None) or (a is not None and not _close(r.data, a.data, atol, rtol)):
            return _failed(
                f"gradgradcheck: input {i}: the recorded backward (create_graph=True) gives "
                "another gradient than the array backward",
                raise_exception,
            )
    v.requires_grad = True
    weights = [Tensor(rng.standard_normal(t.shape)) for t in checked]

    def projected_gradient(*args: Tensor) -> Tensor:
        *values, seed_v = args
        with enable_grad():  # also inside gradcheck's finite differences (run under no_grad)
            out = fn(*values)
            wanted = [t for t in values if isinstance(t, Tensor) and t.requires_grad]
            grads = grad(out, wanted, seed_v, create_graph=True, allow_unused=True)
        total = (seed_v * 0.0).sum()  # keeps a graph when no gradient depends on anything
        for g, w in zip(grads, weights):
            if g is not None:
                total = total + (g * w).sum()
        return total

    return gradcheck(
        projected_gradient, *inputs, v, eps=eps, atol=atol, rtol=rtol, seed=seed,
        raise_exception=raise_exception,
    )  # fmt: skip


@dataclass
class ParameterCheck:
    """How one parameter's backprop gradient compares with finite differences."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs_error: float
    max_rel_error: float
    passed: bool


@dataclass
class GradientReport:
    """Per-parameter results of :func:`check_gradients`; ``str(report)`` is a table.
    ``frozen`` names the parameters not checked: those with ``requires_grad=False``."""

    parameters: list[ParameterCheck]
    loss: float
    eps: float
    frozen: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parameters)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "loss": self.loss,
            "eps": self.eps,
            "parameters": [asdict(p) | {"shape": list(p.shape)} for p in self.parameters],
            "frozen": list(self.frozen),
        }

    def __str__(self) -> str:
        header = (
            f"{'parameter':<24}{'shape':<14}{'checked':>8}{'max abs err':>14}"
            f"{'max rel err':>14}  result"
        )
        rows = [header, "-" * len(header)]
        for p in self.parameters:
            rows.append(
                f"{p.name:<24}{str(p.shape):<14}{p.checked:>8}{p.max_abs_error:>14.3e}"
                f"{p.max_rel_error:>14.3e}  {'pass' if p.passed else 'FAIL'}"
            )
        if self.frozen:
            rows.append(f"not checked, frozen (requires_grad=False): {', '.join(self.frozen)}")
        verdict = "all gradients match" if self.passed else "GRADIENT MISMATCH"
        rows.append(f"loss {self.loss:.6g}, eps {self.eps:g}: {verdict}")
        return "\n".join(rows)


def check_gradients(
    model,
    loss_fn: Callable[[Tensor, object], Tensor],
    x,
    y,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    max_checks_per_parameter: int | None = 200,
    seed: SeedLike = 0,
) -> GradientReport:
    """Check every parameter's gradient of ``loss_fn(model(x), y)`` against central differences.

    Runs on a float64 copy of the model in eval mode (the model itself is untouched).  As
    ``torch.autograd.gradcheck``, only parameters that require gradients are checked: frozen
    ones (``requires_grad=False``) get none, and the report names them (``frozen``).  A loss
    that ``wants_inputs`` (:class:`~nudgenet.DifferentialLoss`) is given ``inputs=`` as ``fit``
    gives it, so the check covers the second derivatives its gradients take.  For large
    parameters a seeded random sample of ``max_checks_per_parameter`` entries is checked
    (``None`` checks all).  Rows and targets are taken as ``explain`` and ``nudge_test`` take
    them: one example as a 1-D row, its target a scalar, and ``(N,)`` targets for one output.
    Relative error is ``|a − n| / max(|a|, |n|, atol)``; an entry passes
    when ``|a − n| <= atol + rtol·|n|``.
    """
    model = float64_copy(model, "check_gradients").eval()
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    if len(frozen) == len(model.parameters()):
        raise ValueError("check_gradients: expected a parameter with requires_grad=True, got none")
    x64, target = prepare_data(model, *example_rows(x, y))  # float64, as the copy takes them
    target = targets_for(model, loss_fn, x64, target)
    rng = generator(seed)

    model.zero_grad()
    for p in model.parameters():
        p.grad = None
    with enable_grad():
        loss = model_loss(model, loss_fn, x64, target)
        loss.backward()

    def evaluate() -> float:
        return loss_value(model, loss_fn, x64, target)

    results = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        analytic = np.zeros(p.shape) if p.grad is None else p.grad
        if max_checks_per_parameter is None or p.size <= max_checks_per_parameter:
            positions = np.arange(p.size)
        else:
            positions = np.sort(rng.choice(p.size, max_checks_per_parameter, replace=False))
        numeric = _numeric_grad(evaluate, p.data, positions, eps)
        a = analytic.reshape(-1)[positions]
        error = np.abs(a - numeric)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(numeric)), atol)
        results.append(
            ParameterCheck(
                name=name,
                shape=tuple(p.shape),
                checked=len(positions),
                max_abs_error=float(error.max(initial=0.0)),
                max_rel_error=float((error / scale).max(initial=0.0)),
                passed=bool(np.all(error <= atol + rtol * np.abs(numeric))),
            )
        )
    return GradientReport(parameters=results, loss=float(loss.data), eps=eps, frozen=frozen)
