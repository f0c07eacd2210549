"""The array rules: every layer's and every loss's forward and backward on plain arrays.

This is the one place each equation is written.  Both backends call these functions: the
engine's autograd primitives (:mod:`.layers`, :mod:`.losses`, thin ``Function`` classes that save
what the backward needs) and the compiled training step (:mod:`nudgenet.compiled`, which runs
them into buffers it reuses).  Running the same functions is what makes the two bit-for-bit
equal.  ``out=`` arguments are such buffers; without them a new array is returned.

Naming: ``f(z)`` is a rule's forward, ``f_delta(g, ...)`` its backward: the gradient of the
cost with respect to ``f``'s input given ``g``, the gradient with respect to its output.  An
activation's backward reads the saved output (or a mask), never recomputing the forward.
Together, ``linear`` and an activation give the δ-rule: for ``a = f(z)``, ``z = x W + b``,
``δ = ∂C/∂z = ∂C/∂a ⊙ f′(z)``, ``∂C/∂W = xᵀ δ``, ``∂C/∂b = 1ᵀ δ``, ``∂C/∂x = δ Wᵀ``.

A loss's ``scale`` is the factor its sum is multiplied by (:func:`per_row_scale`,
:func:`per_element_scale`), or with row weights one factor per row (:func:`weighted_scale`);
``g_scale`` is that factor times the incoming gradient ∂C/∂C.
"""

from __future__ import annotations

import math

import numpy as np

# --- the affine map ---------------------------------------------------------------------------


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, out=None) -> np.ndarray:
    """z = x W + b  (one GEMM, then the bias added in place); x is (..., in), W is (in, out)."""
    z = np.matmul(x, w, out=out)
    if b is not None:
        z += b
    return z


def linear_grad_input(g: np.ndarray, w_t: np.ndarray, out=None) -> np.ndarray:
    """dx = g Wᵀ   (given the view ``w_t`` = Wᵀ, which a caller running many steps makes once).

    With one output column (g of shape (N, 1)) the product is an outer product, each element
    one multiplication: ``np.matmul`` then runs numpy's own unvectorised loop instead of BLAS
    (several times slower), ``np.dot`` calls BLAS; the numbers are the same."""
    if g.ndim == 2 and g.shape[1] == 1 and (out is None or _dot_fits(out, g, w_t)):
        return np.dot(g, w_t, out=out)
    return np.matmul(g, w_t, out=out)


def _dot_fits(out: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``np.dot(a, b, out=out)`` takes ``out`` (C-contiguous, of the product's dtype)."""
    return out.flags.c_contiguous and out.dtype == np.result_type(a, b)


def linear_grad_weight(x_t: np.ndarray, g: np.ndarray, out=None) -> np.ndarray:
    """dW = xᵀ g   (given the view ``x_t`` = xᵀ of x (N, in); g is (N, out))"""
    return np.matmul(x_t, g, out=out)


def linear_grad_bias(g: np.ndarray, ones: np.ndarray | None = None, out=None) -> np.ndarray:
    """db = Σₙ g = 1ᵀ g for g of shape (N, out): one matrix-vector product, which is faster than
    a column reduction; ``ones`` is a reusable vector of N ones."""
    if ones is None:
        ones = np.ones(len(g), dtype=g.dtype)
    return np.matmul(ones, g, out=out)


# --- activations --------------------------------------------------------------------------------


def relu(z: np.ndarray, out=None, zeros=None) -> np.ndarray:
    """a = max(z, 0).  ``zeros``: an array of zeros of z's shape, reused by a caller running many
    steps (the same numbers; numpy's maximum is several times faster against it than against
    the scalar 0, which it does not vectorise)."""
    return np.maximum(z, 0 if zeros is None else zeros, out=out)


def relu_delta(g: np.ndarray, a: np.ndarray, out=None) -> np.ndarray:
    """dz = g ⊙ [a > 0]"""
    return np.multiply(g, a > 0, out=out)


def leaky_relu(z: np.ndarray, positive: np.ndarray, slope: float) -> np.ndarray:
    """a = z where z > 0, else s·z   (``positive`` is the mask z > 0)"""
    return np.where(positive, z, z * slope)


def leaky_relu_delta(g: np.ndarray, positive: np.ndarray, slope: float) -> np.ndarray:
    """dz = g where z > 0, else s·g"""
    return np.where(positive, g, g * slope)


def sigmoid(z: np.ndarray, out=None) -> np.ndarray:
    """a = σ(z) = 1 / (1 + e⁻ᶻ), with no overflow warning for very negative z."""
    with np.errstate(over="ignore"):
        e = np.exp(np.negative(z, out=out), out=out)
    return np.divide(1.0, np.add(e, 1.0, out=out), out=out)


def sigmoid_delta(g: np.ndarray, a: np.ndarray, out=None) -> np.ndarray:
    """dz = g ⊙ a (1 − a)"""
    return np.multiply(np.multiply(g, a, out=out), 1 - a, out=out)


def tanh(z: np.ndarray, out=None) -> np.ndarray:
    """a = tanh z"""
    return np.tanh(z, out=out)


def tanh_delta(g: np.ndarray, a: np.ndarray, out=None) -> np.ndarray:
    """dz = g ⊙ (1 − a²)"""
    return np.multiply(g, 1 - a * a, out=out)


def softplus(z: np.ndarray) -> np.ndarray:
    """a = ln(1 + eᶻ), computed as max(z, 0) + ln(1 + e⁻|ᶻ|) so it cannot overflow."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def softplus_delta(g: np.ndarray, z: np.ndarray) -> np.ndarray:
    """dz = g ⊙ σ(z)   (from the input z)"""
    return g * sigmoid(z)


# --- normalisation ------------------------------------------------------------------------------
# Batch norm and layer norm: y = x̂ ⊙ γ + β with x̂ = (x − μ) / √(σ² + ε), the statistics taken
# over the rows (batch norm in training), over the features (layer norm), or fixed (batch norm's
# running statistics, in eval).  s = 1/√(σ² + ε) is saved for the backward.


def moments(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """μ = mean x,  σ² = mean (x − μ)²  over ``axis`` (the biased variance), kept as axes of 1."""
    return x.mean(axis=axis, keepdims=True), x.var(axis=axis, keepdims=True)


def normalize(x: np.ndarray, mean, var, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """``(x̂, s)``: x̂ = (x − μ) s with s = 1/√(σ² + ε)."""
    inv_std = 1.0 / np.sqrt(var + eps)
    return (x - mean) * inv_std, inv_std


def normalize_delta(g_hat, x_hat, inv_std, axis: int | None) -> np.ndarray:
    """dx from ĝ = ∂C/∂x̂.  Statistics of x itself over ``axis`` (μ and σ² move with x):
    dx = s (ĝ − mean ĝ − x̂ ⊙ mean(ĝ ⊙ x̂)), the means over ``axis``, the standard batch-norm
    backward; fixed statistics (``axis`` None): dx = s ĝ."""
    if axis is None:
        return g_hat * inv_std
    centred = g_hat - g_hat.mean(axis=axis, keepdims=True)
    return (centred - x_hat * (g_hat * x_hat).mean(axis=axis, keepdims=True)) * inv_std


def scale_shift(x_hat: np.ndarray, weight=None, bias=None) -> np.ndarray:
    """y = x̂ ⊙ γ + β  (per feature, the last axis; without γ or β that part is left out)"""
    y = x_hat if weight is None else x_hat * weight
    return y if bias is None else y + bias


def scale_shift_grads(g: np.ndarray, x_hat: np.ndarray, weight=None):
    """``(ĝ, dγ, dβ)``: ĝ = g ⊙ γ (g without γ),  dγ = Σ g ⊙ x̂,  dβ = Σ g, the sums over every
    row (every axis but the last)."""
    rows = g.reshape(-1, g.shape[-1])
    g_hat = g if weight is None else g * weight
    return g_hat, (rows * x_hat.reshape(rows.shape)).sum(axis=0), rows.sum(axis=0)


def update_running(running: np.ndarray, batch: np.ndarray, momentum: float) -> None:
    """r ← (1 − m) r + m b, in place: a running statistic follows the batch's (PyTorch's
    ``momentum`` convention: m is the weight of the new value)."""
    running *= 1 - momentum
    running += momentum * batch


def unbiased(var: np.ndarray, n: int) -> np.ndarray:
    """σ̂² = σ² n / (n − 1): the unbiased variance of n values from the biased one."""
    return var * (n / (n - 1))


# --- softmax ------------------------------------------------------------------------------------

_FEW_COLUMNS = 16  # up to this many columns the transposed copy pays (docs/performance.md)


def reduce_rows(ufunc: np.ufunc, a: np.ndarray, axis: int = -1, out=None) -> np.ndarray:
    """``ufunc.reduce(a, axis, keepdims=True)`` (into ``out``), fast for class scores.

    A 2-D array of many rows and at most 16 columns (a batch of class scores) is reduced across
    its columns as the rows of its transposed copy: one vectorised pass per class instead of a
    short loop per row; wider rows reduce faster directly.  The max is the same either way; a
    sum may differ in its last bit, so every caller of one rule goes through here.
    """
    if a.ndim == 2 and axis in (-1, 1) and a.shape[1] <= _FEW_COLUMNS and a.shape[1] < a.shape[0]:
        columns = np.ascontiguousarray(a.T)
        return ufunc.reduce(columns, axis=0, keepdims=True, out=None if out is None else out.T).T
    return ufunc.reduce(a, axis=axis, keepdims=True, out=out)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """pᵢ = e^(zᵢ − max z) / Σⱼ e^(zⱼ − max z)  (shifted so it cannot overflow)"""
    e = np.exp(z - reduce_rows(np.maximum, z, axis))
    e /= reduce_rows(np.add, e, axis)
    return e


def softmax_delta(g: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """dz = p ⊙ (g − Σ g ⊙ p)   (from the output p)"""
    return p * (g - (g * p).sum(axis=axis, keepdims=True))


def log_softmax(z: np.ndarray, axis: int = -1, out=None) -> np.ndarray:
    """ln pᵢ = zᵢ − max z − ln Σⱼ e^(zⱼ − max z)"""
    shifted = np.subtract(z, reduce_rows(np.maximum, z, axis), out=out)
    shifted -= np.log(reduce_rows(np.add, np.exp(shifted), axis))
    return shifted


def log_softmax_delta(g: np.ndarray, log_p: np.ndarray, axis: int = -1) -> np.ndarray:
    """dz = g − softmax(z) ⊙ Σ g   (from the output ln p)"""
    return g - np.exp(log_p) * g.sum(axis=axis, keepdims=True)


# --- losses -------------------------------------------------------------------------------------


def per_row_scale(reduction: str, shape: tuple[int, ...]) -> float:
    """The class losses' factor: 1/N for ``"mean"`` over the N rows of (N, C) scores, else 1."""
    return 1.0 / shape[0] if reduction == "mean" and shape[0] else 1.0


def per_element_scale(reduction: str, shape: tuple[int, ...]) -> float:
    """The element-wise losses' factor: 1/n for ``"mean"`` over all n elements, else 1."""
    count = math.prod(shape)
    return 1.0 / count if reduction == "mean" and count else 1.0


def weighted_scale(reduction: str, w: np.ndarray, shape: tuple[int, ...], per_element: bool):
    """Row weights w (N,) as the factor each row's loss terms are multiplied by, shaped
    (N, 1, ...) to broadcast over ``shape`` (N, ...): for ``"mean"`` wₙ / Σw (the class losses)
    or wₙ / (m Σw) for the element-wise losses with m elements per row, so the loss is the
    weighted mean Σ wₙℓₙ / Σ wₙ (PyTorch's rule for a class ``weight``; equal weights give the
    unweighted mean); for ``"sum"`` wₙ.  A zero Σw gives zeros (PyTorch: NaN): rows of no weight
    count for nothing."""
    w = w.reshape(-1, *[1] * (len(shape) - 1))
    if reduction != "mean":
        return w
    total = np.add.reduce(w, axis=None) * (math.prod(shape[1:]) if per_element else 1)
    return w / total if total else np.zeros_like(w)


def _per_row(scale) -> bool:
    """Whether ``scale`` is per-row factors (an array, :func:`weighted_scale`) rather than a
    number (``np.ndim`` would say the same, at the price of an exception for a float)."""
    return getattr(scale, "ndim", 0) > 0


def scaled_sum(terms: np.ndarray, scale):
    """Σ terms · scale: the sum, then one multiply, for a number; Σ (terms ⊙ scale) for the
    per-row factors of :func:`weighted_scale`."""
    if _per_row(scale):
        return np.multiply(terms, scale).sum()
    return terms.sum() * scale


def cross_entropy_parts(z: np.ndarray, shifted=None, e=None, total=None):
    """``(s, e, S)`` for softmax cross-entropy from scores z (N, C): s = z − max z per row (into
    ``shifted``), e = exp s (into ``e``), S = Σₖ e of shape (N, 1) (into ``total``), so that
    ln softmax(z) = s − ln S and softmax(z) = e / S: the forward's one ``exp`` serves the
    backward too."""
    s = np.subtract(z, reduce_rows(np.maximum, z, out=total), out=shifted)
    e = np.exp(s, out=e)
    return s, e, reduce_rows(np.add, e, out=total)


def label_index(y: np.ndarray, classes: int | None, offsets=None, out=None) -> np.ndarray:
    """Flat positions n·C + yₙ of integer labels y in an (N, C) array (``offsets`` = n·C)."""
    if offsets is None:
        offsets = np.arange(0, len(y) * classes, classes)
    return np.add(offsets, y, out=out, casting="unsafe", dtype=np.intp)


def cross_entropy_value(s, total, y, scale, index=None):
    """C = −scale Σₙ Σₖ yₙₖ (s − ln S)ₙₖ for probability rows y (N, C); for integer labels y (N,)
    standing for their one-hot rows, C = scale (Σₙ ln Sₙ − Σₙ s[n, yₙ]), s picked at the flat
    ``index`` of the labels (:func:`label_index`).  ``scale`` may be per-row factors (N, 1)."""
    log_total = np.log(total)
    if y.ndim == 1:  # Σ ln S and −Σ s[n, yₙ] are both ≥ 0: no cancellation
        picked = s.take(index)
        if _per_row(scale):
            return scaled_sum(log_total - picked.reshape(-1, 1), scale)
        return (np.add.reduce(log_total, axis=None) - np.add.reduce(picked)) * scale
    return -scaled_sum(y * (s - log_total), scale)


def cross_entropy_delta(e, total, y, g_scale, index=None, out=None):
    """dz = (softmax(z) Σₖ yₖ − y) · g_scale = (e / S · Σₖ yₖ − y) · g_scale, which is
    (softmax(z) − y) · g_scale for rows summing to 1; for integer labels (one-hot rows), 1 is
    subtracted at the labels' flat ``index``."""
    p = np.divide(e, total, out=out)
    if y.ndim == 1:
        if not p.flags.c_contiguous:  # (logits in another layout: a view of p would be a copy)
            p = np.ascontiguousarray(p)
        p.reshape(-1)[index] -= 1  # the flat positions are C order's, as label_index makes them
    else:
        p *= reduce_rows(np.add, y)
        p -= y
    p *= g_scale
    return p


def clip_probabilities(p: np.ndarray, low: float, high: float):
    """``(p̂, inside)``: p̂ = clip(p, low, high) and the mask where p was not clipped (where the
    clipped losses pass a gradient)."""
    return np.clip(p, low, high), (p >= low) & (p <= high)


def categorical_cross_entropy_value(clipped, y, scale):
    """C = −scale Σ y ln p̂"""
    return -scaled_sum(y * np.log(clipped), scale)


def categorical_cross_entropy_delta(clipped, inside, y, g_scale):
    """dp = −(y / p̂) · g_scale where p was not clipped, else 0"""
    return -(y / clipped) * inside * g_scale


def binary_cross_entropy_value(clipped, y, scale):
    """C = −scale Σ [y ln p̂ + (1 − y) ln(1 − p̂)]"""
    return -scaled_sum(y * np.log(clipped) + (1 - y) * np.log1p(-clipped), scale)


def binary_cross_entropy_delta(clipped, inside, y, g_scale):
    """dp = (p̂ − y) / (p̂ (1 − p̂)) · g_scale where p was not clipped, else 0"""
    return (clipped - y) / (clipped * (1 - clipped)) * inside * g_scale


def binary_cross_entropy_with_logits_value(z, y, scale, pos_weight=None):
    """C = scale Σ [softplus(z) − z y]  (= BCE of σ(z), with no overflow for any z); with a
    ``pos_weight`` q per column (PyTorch's), C = scale Σ [q y softplus(−z) + (1 − y) softplus(z)],
    the positive term −y ln σ(z) = y softplus(−z) weighted by q."""
    if pos_weight is None:
        return scaled_sum(softplus(z) - z * y, scale)
    return scaled_sum(pos_weight * y * softplus(-z) + (1 - y) * softplus(z), scale)


def binary_cross_entropy_with_logits_delta(z, y, g_scale, pos_weight=None):
    """dz = (σ(z) − y) · g_scale;  with ``pos_weight`` q,
    dz = (σ(z) (q y + 1 − y) − q y) · g_scale"""
    if pos_weight is None:
        return (sigmoid(z) - y) * g_scale
    qy = pos_weight * y
    return (sigmoid(z) * (qy + 1 - y) - qy) * g_scale


def squared_error_value(diff, scale):
    """C = scale Σ (p − y)², from diff = p − y"""
    return scaled_sum(diff * diff, scale)


def squared_error_delta(diff, g_scale, out=None):
    """dp = 2 (p − y) · g_scale"""
    return np.multiply(diff, 2 * g_scale, out=out)
