"""Every differentiable primitive and every Tensor operator: forward values against plain NumPy,
backward against central finite differences (``ng.gradcheck``, float64), and float32 kept float32
through forward and backward (no silent upcast, Python scalar operands included).

Each case is ``(fn on tensors, reference on arrays, input specs)``; the same table drives the
float64 gradient check and the float32 dtype check.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import nudgenet as ng
import nudgenet.functional as F

# the module, not the ``ng.tensor`` factory function that shadows it as a package attribute
engine = importlib.import_module("nudgenet.tensor")

# --- input specs ------------------------------------------------------------------------------
# kind: "normal" N(0,1); "pos" U(0.5, 2) (log, division, powers); "away" |v| in [0.2, 1.5] with a
# random sign (keeps relu/abs/leaky_relu away from their kink at 0); "prob" U(0.05, 0.95);
# "const" N(0,1) without requires_grad (an operand that is data, not a variable).

_SHAPE_RNG = np.random.default_rng(20240501)


def _random_shape(ndim: int) -> tuple[int, ...]:
    return tuple(int(n) for n in _SHAPE_RNG.integers(2, 5, size=ndim))


def spec(shape, kind="normal"):
    return (tuple(shape), kind)


def make_inputs(specs, dtype, seed=0):
    """Arrays for ``specs`` in ``dtype`` (seeded) and their tensors (requires_grad unless const)."""
    rng = np.random.default_rng(seed)
    arrays, tensors = [], []
    for shape, kind in specs:
        if kind == "pos":
            a = rng.uniform(0.5, 2.0, shape)
        elif kind == "away":
            a = rng.uniform(0.2, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        elif kind == "prob":
            a = rng.uniform(0.05, 0.95, shape)
        else:
            a = rng.standard_normal(shape)
        a = np.asarray(a, dtype=dtype)
        arrays.append(a)
        tensors.append(ng.Tensor(a.copy(), requires_grad=kind != "const"))
    return arrays, tensors


# --- NumPy references -------------------------------------------------------------------------


def np_softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(z, axis=-1):
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_bce(p, y):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


N, C = 5, 3
LABELS = np.array([0, 2, 1, 2, 0])
SOFT = np.random.default_rng(7).dirichlet(np.ones(C), size=N)  # probability-row targets
COUNTS = np.array([[0.0, 1.0], [3.0, 0.0], [2.0, 5.0], [1.0, 1.0], [0.0, 4.0]])  # Poisson's
COUNTS_LOG_COUNTS = COUNTS * np.log(np.where(COUNTS > 0, COUNTS, 1))  # y ln y, 0 at y = 0
BINARY = (np.random.default_rng(8).random((N, 2)) > 0.5).astype(np.float64)
MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])


def _onehot(labels, classes):
    return np.eye(classes)[labels]


# --- the table --------------------------------------------------------------------------------


def case(name, fn, ref, *specs):
    return pytest.param(fn, ref, specs, id=name)


def _elementwise_cases():
    out = []
    for ndim in (0, 1, 2, 3):
        s = _random_shape(ndim)
        t = f"{ndim}d{s}"
        out += [
            case(f"add-{t}", F.add, np.add, spec(s), spec(s)),
            case(f"sub-{t}", F.sub, np.subtract, spec(s), spec(s)),
            case(f"mul-{t}", F.mul, np.multiply, spec(s), spec(s)),
            case(f"div-{t}", F.div, np.divide, spec(s), spec(s, "pos")),
            case(f"neg-{t}", F.neg, np.negative, spec(s)),
            case(f"exp-{t}", F.exp, np.exp, spec(s)),
            case(f"log-{t}", F.log, np.log, spec(s, "pos")),
            case(f"abs-{t}", F.abs, np.abs, spec(s, "away")),
            case(f"pow-scalar3-{t}", lambda a: F.pow(a, 3), lambda a: a**3, spec(s)),
            case(f"pow-tensor-{t}", F.pow, np.power, spec(s, "pos"), spec(s)),
            case(f"relu-{t}", F.relu, lambda a: np.maximum(a, 0), spec(s, "away")),
            case(
                f"leaky_relu-{t}",
                lambda a: F.leaky_relu(a, 0.1),
                lambda a: np.where(a > 0, a, 0.1 * a),
                spec(s, "away"),
            ),
            case(f"sigmoid-{t}", F.sigmoid, np_sigmoid, spec(s)),
            case(f"tanh-{t}", F.tanh, np.tanh, spec(s)),
            case(f"softplus-{t}", F.softplus, lambda a: np.log1p(np.exp(a)), spec(s)),
        ]
    return out


def _broadcast_cases():
    return [
        case("add-bias-(N,k)+(k,)", F.add, np.add, spec((4, 3)), spec((3,))),
        case("add-bias-(k,)+(N,k)", F.add, np.add, spec((3,)), spec((4, 3))),
        case("mul-(N,1)*(1,k)", F.mul, np.multiply, spec((4, 1)), spec((1, 3))),
        case("sub-(N,1)-(N,k)", F.sub, np.subtract, spec((4, 1)), spec((4, 3))),
        case("div-(N,k)/(k,)", F.div, np.divide, spec((4, 3)), spec((3,), "pos")),
        case("div-(k,)/(N,1)", F.div, np.divide, spec((3,)), spec((4, 1), "pos")),
        case("mul-0d-tensor*(N,k)", F.mul, np.multiply, spec(()), spec((4, 3))),
        case("add-(2,1,k)+(N,1)", F.add, np.add, spec((2, 1, 3)), spec((4, 1))),
        case("pow-tensor-broadcast", F.pow, np.power, spec((4, 3), "pos"), spec((3,))),
        case("pow-2.5", lambda a: F.pow(a, 2.5), lambda a: a**2.5, spec((3, 4), "pos")),
        case("pow-neg1.5", lambda a: F.pow(a, -1.5), lambda a: a**-1.5, spec((3, 4), "pos")),
        case("scalar-base-pow", lambda a: F.pow(2.0, a), lambda a: 2.0**a, spec((3, 4))),
    ]


def _matmul_cases():
    return [
        case("matmul-2d@2d", F.matmul, np.matmul, spec((3, 4)), spec((4, 5))),
        case("matmul-1d@2d", F.matmul, np.matmul, spec((4,)), spec((4, 5))),
        case("matmul-2d@1d", F.matmul, np.matmul, spec((3, 4)), spec((4,))),
        case("matmul-1d@1d", F.matmul, np.matmul, spec((4,)), spec((4,))),
        case("matmul-3d@2d", F.matmul, np.matmul, spec((2, 3, 4)), spec((4, 5))),
        case("matmul-3d@3d", F.matmul, np.matmul, spec((2, 3, 4)), spec((2, 4, 5))),
        case("matmul-3d@1d", F.matmul, np.matmul, spec((2, 3, 4)), spec((4,))),
        case("matmul-data@W", F.matmul, np.matmul, spec((3, 4), "const"), spec((4, 2))),
    ]


def _reduction_cases():
    out = []
    reductions = [("sum", F.sum, np.sum), ("mean", F.mean, np.mean), ("max", F.max, np.max)]
    for name, fn, ref in reductions:
        for axis in (None, 0, -1, 1, (0, 2)):
            for keepdims in (False, True):
                out.append(
                    case(
                        f"{name}-axis{axis}-keep{keepdims}",
                        lambda a, fn=fn, axis=axis, k=keepdims: fn(a, axis=axis, keepdims=k),
                        lambda a, ref=ref, axis=axis, k=keepdims: ref(a, axis=axis, keepdims=k),
                        spec((2, 3, 4)),
                    )
                )
    return out


def _shape_cases():
    def getitem_case(name, index, shape=(3, 4)):
        return case(
            f"getitem-{name}", lambda a: F.getitem(a, index), lambda a: a[index], spec(shape)
        )

    return [
        case("reshape", lambda a: F.reshape(a, (4, 6)), lambda a: a.reshape(4, 6), spec((2, 3, 4))),
        case("reshape-1", lambda a: F.reshape(a, -1), lambda a: a.reshape(-1), spec((2, 3, 4))),
        case("transpose", F.transpose, np.transpose, spec((2, 3, 4))),
        case(
            "transpose-axes",
            lambda a: F.transpose(a, (2, 0, 1)),
            lambda a: np.transpose(a, (2, 0, 1)),
            spec((2, 3, 4)),
        ),
        # axes counted from the end among others: the inverse was argsort((0, -1, 1)), wrong
        case(
            "transpose-mixed-sign-axes",
            lambda a: F.transpose(a, (0, -1, 1)),
            lambda a: np.transpose(a, (0, -1, 1)),
            spec((2, 3, 4)),
        ),
        case(
            "transpose-(-1,0)-square",
            lambda a: F.transpose(a, (-1, 0)),
            lambda a: np.transpose(a, (-1, 0)),
            spec((3, 3)),
        ),
        getitem_case("slices", np.s_[1:, ::2]),
        getitem_case("int", 1),
        getitem_case("column", np.s_[:, 2]),
        getitem_case("negative-int", np.s_[-1, 1:3]),
        getitem_case("ellipsis", np.s_[..., 1], shape=(2, 3, 4)),
        getitem_case("newaxis", np.s_[None, :, 1]),
        getitem_case("int-array-repeats", np.array([0, 2, 0, 0])),
        getitem_case("pair-arrays-repeats", (np.array([0, 1, 1, 2]), np.array([3, 0, 0, 3]))),
        getitem_case("bool-mask", MASK),
        getitem_case("bool-rows", np.array([True, False, True])),
    ]


def _layer_cases():
    def affine(x, w, b=None):
        return x @ w if b is None else x @ w + b

    out = [
        case("linear", F.linear, affine, spec((5, 3)), spec((3, 4)), spec((4,))),
        case("linear-nobias", F.linear, affine, spec((5, 3)), spec((3, 4))),
        case("linear-1d-input", F.linear, affine, spec((3,)), spec((3, 4)), spec((4,))),
        case("linear-3d-input", F.linear, affine, spec((2, 5, 3)), spec((3, 4)), spec((4,))),
        case(
            "linear-data-input", F.linear, affine, spec((5, 3), "const"), spec((3, 4)), spec((4,))
        ),
    ]
    for name, fn, ref in [
        ("softmax", F.softmax, np_softmax),
        ("log_softmax", F.log_softmax, np_log_softmax),
    ]:
        for axis in (-1, 0):
            out.append(
                case(
                    f"{name}-axis{axis}",
                    lambda a, fn=fn, axis=axis: fn(a, axis=axis),
                    lambda a, ref=ref, axis=axis: ref(a, axis=axis),
                    spec((4, 5)),
                )
            )
    return out


def _loss_cases():
    rows = np.arange(N)
    return [
        case(
            "mse_loss-mean",
            F.mse_loss,
            lambda p, y: ((p - y) ** 2).mean(),
            spec((N, 2)),
            spec((N, 2), "const"),
        ),
        case(
            "mse_loss-sum",
            lambda p, y: F.mse_loss(p, y, reduction="sum"),
            lambda p, y: ((p - y) ** 2).sum(),
            spec((N, 2)),
            spec((N, 2), "const"),
        ),
        case(
            "poisson_loss-mean",
            lambda z: F.poisson_loss(z, COUNTS.astype(z.dtype)),
            lambda z: (np.exp(z) - COUNTS * z + COUNTS_LOG_COUNTS - COUNTS).mean(),
            spec((N, 2)),
        ),
        case(
            "poisson_loss-sum",
            lambda z: F.poisson_loss(z, COUNTS.astype(z.dtype), reduction="sum"),
            lambda z: (np.exp(z) - COUNTS * z + COUNTS_LOG_COUNTS - COUNTS).sum(),
            spec((N, 2)),
        ),
        case(
            "cross_entropy-labels-mean",
            lambda z: F.cross_entropy(z, LABELS),
            lambda z: -np_log_softmax(z)[rows, LABELS].mean(),
            spec((N, C)),
        ),
        case(
            "cross_entropy-labels-sum",
            lambda z: F.cross_entropy(z, LABELS, reduction="sum"),
            lambda z: -np_log_softmax(z)[rows, LABELS].sum(),
            spec((N, C)),
        ),
        # logits in another layout (a transposed view): the labels' one-hot was subtracted from
        # a copy, so the gradient lacked it
        case(
            "cross_entropy-labels-transposed-logits",
            lambda z: F.cross_entropy(z.T, LABELS),
            lambda z: -np_log_softmax(z.T)[rows, LABELS].mean(),
            spec((C, N)),
        ),
        case(
            "cross_entropy-probs-mean",
            lambda z: F.cross_entropy(z, SOFT.astype(z.dtype)),
            lambda z: -(SOFT * np_log_softmax(z)).sum() / N,
            spec((N, C)),
        ),
        case(
            "cross_entropy-probs-sum",
            lambda z: F.cross_entropy(z, SOFT.astype(z.dtype), reduction="sum"),
            lambda z: -(SOFT * np_log_softmax(z)).sum(),
            spec((N, C)),
        ),
        case(
            "categorical_cross_entropy-labels",
            lambda p: F.categorical_cross_entropy(p, LABELS),
            lambda p: -np.log(p[rows, LABELS]).mean(),
            spec((N, C), "prob"),
        ),
        case(
            "categorical_cross_entropy-probs-sum",
            lambda p: F.categorical_cross_entropy(p, SOFT.astype(p.dtype), reduction="sum"),
            lambda p: -(SOFT * np.log(p)).sum(),
            spec((N, C), "prob"),
        ),
        case(
            "categorical_cross_entropy-of-softmax",
            lambda z: F.categorical_cross_entropy(F.softmax(z), LABELS),
            lambda z: -np_log_softmax(z)[rows, LABELS].mean(),
            spec((N, C)),
        ),
        case(
            "binary_cross_entropy",
            lambda p: F.binary_cross_entropy(p, BINARY.astype(p.dtype)),
            lambda p: np_bce(p, BINARY).mean(),
            spec((N, 2), "prob"),
        ),
        case(
            "binary_cross_entropy-sum",
            lambda p: F.binary_cross_entropy(p, BINARY.astype(p.dtype), reduction="sum"),
            lambda p: np_bce(p, BINARY).sum(),
            spec((N, 2), "prob"),
        ),
        case(
            "binary_cross_entropy_with_logits",
            lambda z: F.binary_cross_entropy_with_logits(z, BINARY.astype(z.dtype)),
            lambda z: np_bce(np_sigmoid(z), BINARY).mean(),
            spec((N, 2)),
        ),
        case(
            "binary_cross_entropy_with_logits-soft-sum",
            lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="sum"),
            lambda z, y: np_bce(np_sigmoid(z), y).sum(),
            spec((N, 2)),
            spec((N, 2), "const"),
        ),
    ]


# weights, and PyTorch's formulas for them (written out here: torch is not a test dependency)
CLASS_W = np.array([0.5, 2.0, 1.5])  # one per class (CrossEntropyLoss(weight=...))
ROW_W = np.array([1.0, 0.0, 2.5, 0.5, 3.0])  # one per row (sample_weight), a zero among them
POS_W = np.array([3.0, 0.5])  # one per column (BCEWithLogitsLoss(pos_weight=...))


def np_weighted_mean(losses, w):
    """Σ wₙ ℓₙ / Σ wₙ of per-row losses (the rows' elements averaged first)."""
    per_row = losses.reshape(len(losses), -1).mean(axis=1)
    return (w * per_row).sum() / w.sum()


def _weighted_loss_cases():
    rows = np.arange(N)
    picked_w = CLASS_W[LABELS]
    return [
        case(  # PyTorch: Σ w[yₙ] ℓₙ / Σ w[yₙ]
            "cross_entropy-labels-class-weight-mean",
            lambda z: F.cross_entropy(z, LABELS, weight=CLASS_W),
            lambda z: -(picked_w * np_log_softmax(z)[rows, LABELS]).sum() / picked_w.sum(),
            spec((N, C)),
        ),
        case(
            "cross_entropy-labels-class-and-row-weights-sum",
            lambda z: F.cross_entropy(z, LABELS, "sum", weight=CLASS_W, sample_weight=ROW_W),
            lambda z: -(ROW_W * picked_w * np_log_softmax(z)[rows, LABELS]).sum(),
            spec((N, C)),
        ),
        case(  # PyTorch, probability targets: −Σₙ Σₖ wₖ yₙₖ ln pₙₖ / N
            "cross_entropy-probs-class-weight-mean",
            lambda z: F.cross_entropy(z, SOFT.astype(z.dtype), weight=CLASS_W),
            lambda z: -(CLASS_W * SOFT * np_log_softmax(z)).sum() / N,
            spec((N, C)),
        ),
        case(  # rows that do not sum to 1: the gradient is softmax · Σy − y, not softmax − y
            "cross_entropy-unnormalised-probs-mean",
            lambda z: F.cross_entropy(z, 2 * SOFT.astype(z.dtype)),
            lambda z: -(2 * SOFT * np_log_softmax(z)).sum() / N,
            spec((N, C)),
        ),
        case(
            "cross_entropy-probs-row-weights-mean",
            lambda z: F.cross_entropy(z, SOFT.astype(z.dtype), sample_weight=ROW_W),
            lambda z: np_weighted_mean(-(SOFT * np_log_softmax(z)).sum(axis=1), ROW_W),
            spec((N, C)),
        ),
        case(
            "categorical_cross_entropy-labels-row-weights-mean",
            lambda p: F.categorical_cross_entropy(p, LABELS, sample_weight=ROW_W),
            lambda p: np_weighted_mean(-np.log(p[rows, LABELS]), ROW_W),
            spec((N, C), "prob"),
        ),
        case(
            "binary_cross_entropy-row-weights-mean",
            lambda p: F.binary_cross_entropy(p, BINARY.astype(p.dtype), sample_weight=ROW_W),
            lambda p: np_weighted_mean(np_bce(p, BINARY), ROW_W),
            spec((N, 2), "prob"),
        ),
        case(  # PyTorch: −[q y ln σ(z) + (1 − y) ln(1 − σ(z))]
            "binary_cross_entropy_with_logits-pos-weight-and-row-weights-mean",
            lambda z, y: F.binary_cross_entropy_with_logits(
                z, y, pos_weight=POS_W, sample_weight=ROW_W
            ),
            lambda z, y: np_weighted_mean(
                -(POS_W * y * np.log(np_sigmoid(z)) + (1 - y) * np.log(1 - np_sigmoid(z))), ROW_W
            ),
            spec((N, 2)),
            spec((N, 2), "const"),
        ),
        case(
            "binary_cross_entropy_with_logits-pos-weight-number-sum",
            lambda z: F.binary_cross_entropy_with_logits(
                z, BINARY.astype(z.dtype), "sum", pos_weight=4.0
            ),
            lambda z: (
                -(
                    4 * BINARY * np.log(np_sigmoid(z)) + (1 - BINARY) * np.log(1 - np_sigmoid(z))
                ).sum()
            ),
            spec((N, 2)),
        ),
        case(
            "mse_loss-row-weights-mean",
            lambda p, y: F.mse_loss(p, y, sample_weight=ROW_W),
            lambda p, y: np_weighted_mean((p - y) ** 2, ROW_W),
            spec((N, 2)),
            spec((N, 2), "const"),
        ),
        case(
            "mse_loss-vector-row-weights-sum",
            lambda p, y: F.mse_loss(p, y, "sum", sample_weight=ROW_W),
            lambda p, y: (ROW_W * (p - y) ** 2).sum(),
            spec((N,)),
            spec((N,), "const"),
        ),
    ]


def _target_gradient_cases():
    """Targets that require gradients (distillation, reconstruction): the gradient flows into
    them too, as PyTorch's losses give it, weights and reductions included."""
    return [
        case(
            "mse_loss-target-requires-grad",
            F.mse_loss,
            lambda p, y: ((p - y) ** 2).mean(),
            spec((N, 2)),
            spec((N, 2)),
        ),
        case(
            "mse_loss-target-requires-grad-row-weights-sum",
            lambda p, y: F.mse_loss(p, y, "sum", sample_weight=ROW_W),
            lambda p, y: (ROW_W[:, None] * (p - y) ** 2).sum(),
            spec((N, 2)),
            spec((N, 2)),
        ),
        case(
            "cross_entropy-probs-target-requires-grad",
            F.cross_entropy,
            lambda z, y: -(y * np_log_softmax(z)).sum() / N,
            spec((N, C)),
            spec((N, C), "prob"),
        ),
        case(
            "cross_entropy-probs-target-requires-grad-class-and-row-weights",
            lambda z, y: F.cross_entropy(z, y, weight=CLASS_W, sample_weight=ROW_W),
            lambda z, y: np_weighted_mean(-(CLASS_W * y * np_log_softmax(z)).sum(axis=1), ROW_W),
            spec((N, C)),
            spec((N, C), "prob"),
        ),
        case(
            "categorical_cross_entropy-target-requires-grad-sum",
            lambda p, y: F.categorical_cross_entropy(p, y, "sum"),
            lambda p, y: -(y * np.log(p)).sum(),
            spec((N, C), "prob"),
            spec((N, C), "prob"),
        ),
        case(
            "binary_cross_entropy-target-requires-grad-row-weights",
            lambda p, y: F.binary_cross_entropy(p, y, sample_weight=ROW_W),
            lambda p, y: np_weighted_mean(np_bce(p, y), ROW_W),
            spec((N, 2), "prob"),
            spec((N, 2), "prob"),
        ),
        case(
            "binary_cross_entropy_with_logits-target-requires-grad",
            F.binary_cross_entropy_with_logits,
            lambda z, y: np_bce(np_sigmoid(z), y).mean(),
            spec((N, 2)),
            spec((N, 2), "prob"),
        ),
        case(
            "binary_cross_entropy_with_logits-target-requires-grad-pos-weight-sum",
            lambda z, y: F.binary_cross_entropy_with_logits(z, y, "sum", pos_weight=POS_W),
            lambda z, y: (
                -(POS_W * y * np.log(np_sigmoid(z)) + (1 - y) * np.log(1 - np_sigmoid(z))).sum()
            ),
            spec((N, 2)),
            spec((N, 2), "prob"),
        ),
        case(
            "poisson_loss-target-requires-grad",
            F.poisson_loss,
            lambda z, y: (np.exp(z) - y * z + y * np.log(y) - y).mean(),
            spec((N, 2)),
            spec((N, 2), "pos"),
        ),
        case(
            "poisson_loss-target-requires-grad-row-weights-sum",
            lambda z, y: F.poisson_loss(z, y, "sum", sample_weight=ROW_W),
            lambda z, y: (ROW_W[:, None] * (np.exp(z) - y * z + y * np.log(y) - y)).sum(),
            spec((N, 2)),
            spec((N, 2), "pos"),
        ),
    ]


def _operator_cases():
    """Tensor's operators and methods, reflected forms with numbers and ndarrays included."""
    s = (3, 4)
    return [
        case("op+", lambda a, b: a + b, np.add, spec(s), spec((4,))),
        case("op-", lambda a, b: a - b, np.subtract, spec(s), spec(s)),
        case("op*", lambda a, b: a * b, np.multiply, spec((3, 1)), spec((1, 4))),
        case("op/", lambda a, b: a / b, np.divide, spec(s), spec(s, "pos")),
        case("op@", lambda a, b: a @ b, np.matmul, spec(s), spec((4, 2))),
        case("op**scalar", lambda a: a**2, lambda a: a**2, spec(s)),
        case("op**tensor", lambda a, b: a**b, np.power, spec(s, "pos"), spec(s)),
        case("op-unary", lambda a: -a, np.negative, spec(s)),
        case("op-abs()", abs, np.abs, spec(s, "away")),
        case("op-number+", lambda a: a + 2.5, lambda a: a + 2.5, spec(s)),
        case("op-number-radd", lambda a: 2.5 + a, lambda a: 2.5 + a, spec(s)),
        case("op-number-rsub", lambda a: 1.5 - a, lambda a: 1.5 - a, spec(s)),
        case("op-number-sub", lambda a: a - 1.5, lambda a: a - 1.5, spec(s)),
        case("op-number-rmul", lambda a: 3 * a, lambda a: 3 * a, spec(s)),
        case("op-number-rdiv", lambda a: 2.0 / a, lambda a: 2.0 / a, spec(s, "pos")),
        case("op-number-div", lambda a: a / 4, lambda a: a / 4, spec(s)),
        case("op-number-rpow", lambda a: 3.0**a, lambda a: 3.0**a, spec(s)),
        case("op-numpy-scalar", lambda a: np.float64(0.5) * a, lambda a: 0.5 * a, spec(s)),
        case("op-ndarray+", lambda a, c: a + c.data, np.add, spec(s), spec((4,), "const")),
        case(
            "op-ndarray-radd",
            lambda a, c: c.data + a,
            lambda a, c: c + a,
            spec(s),
            spec(s, "const"),
        ),
        case(
            "op-ndarray-rsub",
            lambda a, c: c.data - a,
            lambda a, c: c - a,
            spec(s),
            spec(s, "const"),
        ),
        case(
            "op-ndarray-rmul",
            lambda a, c: c.data * a,
            lambda a, c: c * a,
            spec(s),
            spec((3, 1), "const"),
        ),
        case(
            "op-ndarray-rdiv",
            lambda a, c: c.data / a,
            lambda a, c: c / a,
            spec(s, "pos"),
            spec(s, "const"),
        ),
        case(
            "op-ndarray-rmatmul",
            lambda a, c: c.data @ a,
            lambda a, c: c @ a,
            spec(s),
            spec((2, 3), "const"),
        ),
        case("op-index", lambda a: a[1:, [0, 0, 3]], lambda a: a[1:, [0, 0, 3]], spec(s)),
        case(
            "op-index-tensor",
            lambda a: a[ng.tensor(np.array([2, 2, 0]))],
            lambda a: a[[2, 2, 0]],
            spec(s),
        ),
        case(".sum()", lambda a: a.sum(), np.sum, spec(s)),
        case(".sum(1)", lambda a: a.sum(1), lambda a: a.sum(1), spec(s)),
        case(
            ".mean(0,keepdims)",
            lambda a: a.mean(0, keepdims=True),
            lambda a: a.mean(0, keepdims=True),
            spec(s),
        ),
        case(".max(axis=1)", lambda a: a.max(axis=1), lambda a: a.max(axis=1), spec(s)),
        case(".max()", lambda a: a.max(), np.max, spec(s)),
        case(".exp()", lambda a: a.exp(), np.exp, spec(s)),
        case(".log()", lambda a: a.log(), np.log, spec(s, "pos")),
        case(".abs()", lambda a: a.abs(), np.abs, spec(s, "away")),
        case(".relu()", lambda a: a.relu(), lambda a: np.maximum(a, 0), spec(s, "away")),
        case(".sigmoid()", lambda a: a.sigmoid(), np_sigmoid, spec(s)),
        case(".tanh()", lambda a: a.tanh(), np.tanh, spec(s)),
        case(".softmax()", lambda a: a.softmax(), np_softmax, spec(s)),
        case(".log_softmax()", lambda a: a.log_softmax(), np_log_softmax, spec(s)),
        case(".reshape(*)", lambda a: a.reshape(2, 6), lambda a: a.reshape(2, 6), spec(s)),
        case(".reshape(tuple)", lambda a: a.reshape((6, 2)), lambda a: a.reshape(6, 2), spec(s)),
        case(".transpose()", lambda a: a.transpose(), np.transpose, spec((2, 3, 4))),
        case(
            ".transpose(axes)",
            lambda a: a.transpose(1, 0, 2),
            lambda a: a.transpose(1, 0, 2),
            spec((2, 3, 4)),
        ),
        case(".T", lambda a: a.T, lambda a: a.T, spec(s)),
        case(".clone()", lambda a: a.clone() * 2, lambda a: a * 2, spec(s)),
        case("op-reuse-x*x+x", lambda a: a * a + a, lambda a: a * a + a, spec(s)),
        # an input that also feeds a later input: its gradient must be complete before it is used
        case("op-reuse-x+tanh(x)", lambda a: a + a.tanh(), lambda a: a + np.tanh(a), spec(s)),
        case("op-reuse-swish", lambda a: a * a.sigmoid(), lambda a: a * np_sigmoid(a), spec(s)),
        case(
            "op-reuse-b+exp(b)",
            lambda a: (lambda b: b + b.exp())(a * 2),
            lambda a: 2 * a + np.exp(2 * a),
            spec(s),
        ),
        case(
            "op-reuse-residual",
            lambda x, w: (lambda z: z + z.relu())(x @ w),
            lambda x, w: (lambda z: z + np.maximum(z, 0))(x @ w),
            spec((5, 3)),
            spec((3, 4)),
        ),
        case(
            "op-chain-mlp",
            lambda x, w, b: ((x @ w + b).tanh() ** 2).mean(),
            lambda x, w, b: (np.tanh(x @ w + b) ** 2).mean(),
            spec((5, 3), "const"),
            spec((3, 4)),
            spec((4,)),
        ),
    ]


CASES = (
    _elementwise_cases()
    + _broadcast_cases()
    + _matmul_cases()
    + _reduction_cases()
    + _shape_cases()
    + _layer_cases()
    + _loss_cases()
    + _weighted_loss_cases()
    + _target_gradient_cases()
    + _operator_cases()
)


# --- the checks -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "ref", "specs"), CASES)
def test_forward_matches_numpy_and_gradients_match_finite_differences(fn, ref, specs):
    arrays, tensors = make_inputs(specs, np.float64)
    out = fn(*tensors)
    assert isinstance(out, ng.Tensor)
    expected = np.asarray(ref(*arrays))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert out.requires_grad
    assert ng.gradcheck(fn, *tensors)
    # the inputs were restored exactly after the finite differences
    for a, t in zip(arrays, tensors):
        np.testing.assert_array_equal(t.data, a)


@pytest.fixture
def routed_grad_dtypes(monkeypatch):
    """Records the dtype of every gradient the engine routes from an op to one of its inputs."""
    seen = []
    original = engine.unbroadcast

    def spy(grad, shape):
        seen.append(np.asarray(grad).dtype)
        return original(grad, shape)

    monkeypatch.setattr(engine, "unbroadcast", spy)
    return seen


@pytest.mark.parametrize(("fn", "ref", "specs"), CASES)
def test_float32_in_float32_out_forward_and_backward(fn, ref, specs, routed_grad_dtypes):
    arrays, tensors = make_inputs(specs, np.float32)
    out = fn(*tensors)
    assert out.dtype == np.float32
    expected = ref(*[a.astype(np.float64) for a in arrays])
    np.testing.assert_allclose(out.data, expected, rtol=2e-5, atol=2e-6)
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert routed_grad_dtypes, "backward routed no gradient"
    assert set(routed_grad_dtypes) == {np.dtype(np.float32)}
    for (_, kind), t in zip(specs, tensors):
        if kind == "const":
            assert t.grad is None
        else:
            assert t.grad.dtype == np.float32
            assert t.grad.shape == t.shape


def test_max_shares_the_gradient_among_tied_maxima():
    x = ng.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    (F.max(x, axis=1) * np.array([1.0, 10.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [10.0, 0.0, 0.0]])
    x.grad = None
    F.max(x).backward()  # one maximum overall, shared by two positions
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]])


# --- dropout ----------------------------------------------------------------------------------


def test_dropout_applies_the_seeded_mask_scaled_by_keep_probability():
    x = ng.tensor(np.random.default_rng(0).uniform(1, 2, (50, 40)), requires_grad=True)
    p = 0.3
    out = F.dropout(x, p=p, seed=123)
    expected_keep = np.random.default_rng(123).random(x.shape) >= p
    kept = out.data != 0
    np.testing.assert_array_equal(kept, expected_keep)
    np.testing.assert_allclose(out.data[kept], x.data[kept] / (1 - p), rtol=1e-15)
    assert abs(1 - kept.mean() - p) < 0.03  # about p of the units are dropped
    out.backward(np.ones(out.shape))
    np.testing.assert_allclose(x.grad, expected_keep / (1 - p), rtol=1e-15)


def test_dropout_same_seed_same_mask_and_float32_kept():
    x = ng.tensor(np.ones((20, 30), np.float32), requires_grad=True)
    a, b = F.dropout(x, 0.5, seed=5), F.dropout(x, 0.5, seed=5)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == np.float32
    assert not np.array_equal(a.data, F.dropout(x, 0.5, seed=6).data)
    a.backward(np.ones(a.shape, np.float32))
    assert x.grad.dtype == np.float32


def test_dropout_gradcheck_with_fixed_seed():
    x = ng.tensor(np.random.default_rng(1).standard_normal((4, 6)), requires_grad=True)
    assert ng.gradcheck(lambda t: F.dropout(t, 0.4, seed=9), x)


def test_dropout_is_identity_when_not_training_or_p_zero():
    x = ng.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False, seed=0).data, x.data)
    np.testing.assert_array_equal(F.dropout(x, 0.0, seed=0).data, x.data)


# --- losses: edge values the table does not reach ---------------------------------------------


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    z = ng.tensor(np.random.default_rng(3).standard_normal((N, C)), requires_grad=True)
    F.cross_entropy(z, LABELS).backward()
    np.testing.assert_allclose(z.grad, (np_softmax(z.data) - _onehot(LABELS, C)) / N, rtol=1e-12)
    z.grad = None
    F.cross_entropy(z, LABELS, reduction="sum").backward()
    np.testing.assert_allclose(z.grad, np_softmax(z.data) - _onehot(LABELS, C), rtol=1e-12)


def test_integer_labels_equal_their_one_hot_rows():
    z = ng.tensor(np.random.default_rng(4).standard_normal((N, C)))
    by_label = F.cross_entropy(z, LABELS).item()
    by_onehot = F.cross_entropy(z, _onehot(LABELS, C)).item()
    assert by_label == pytest.approx(by_onehot, rel=1e-12)


def test_bce_with_logits_is_stable_for_huge_logits():
    z = ng.tensor(np.array([[500.0, -500.0]]), requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, np.array([[0.0, 1.0]]))
    assert loss.item() == pytest.approx(500.0)  # mean of two losses of 500 each
    loss.backward()
    np.testing.assert_allclose(z.grad, [[0.5, -0.5]])


def test_binary_cross_entropy_of_exact_zero_and_one_is_finite():
    p = ng.tensor(np.array([[0.0, 1.0, 0.5]]), requires_grad=True)
    loss = F.binary_cross_entropy(p, np.array([[1.0, 0.0, 1.0]]))
    assert np.isfinite(loss.item()) and loss.item() > 5
    loss.backward()
    assert np.all(np.isfinite(p.grad))


@pytest.mark.parametrize(
    "shape", [(100, 10), (10, 100), (7, 7), (6,), (3, 4, 5), (1000, 3), (100, 16), (300, 17)]
)
@pytest.mark.parametrize("ufunc", [np.maximum, np.add], ids=["max", "sum"])
def test_reduce_rows_equals_a_reduction_over_the_last_axis(shape, ufunc):
    from nudgenet.functional.kernels import reduce_rows

    a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    expected = ufunc.reduce(a.astype(np.float64), axis=-1, keepdims=True)
    out = np.empty(expected.shape, dtype=np.float32)
    np.testing.assert_allclose(reduce_rows(ufunc, a), expected, rtol=1e-5, atol=1e-5)
    written = reduce_rows(ufunc, a, out=out)
    assert written.shape == expected.shape and np.shares_memory(written, out)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_linear_grad_input_of_one_output_column_is_the_exact_outer_product():
    """g of shape (N, 1): np.dot's BLAS call (np.matmul would loop in numpy), into a new array,
    into ``out``, and, for an ``out`` np.dot cannot take (not contiguous), np.matmul's."""
    from nudgenet.functional.kernels import linear_grad_input

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        g = rng.standard_normal((37, 1)).astype(dtype)
        w = rng.standard_normal((5, 1)).astype(dtype)
        expected = g * w.T
        assert np.array_equal(linear_grad_input(g, w.T), expected)
        out = np.empty((37, 5), dtype)
        assert linear_grad_input(g, w.T, out) is out and np.array_equal(out, expected)
        strided = np.empty((37, 10), dtype)[:, ::2]
        assert linear_grad_input(g, w.T, strided) is strided
        assert np.array_equal(strided, expected)


def test_relu_against_reused_zeros_is_relu_bit_for_bit():
    from nudgenet.functional.kernels import relu

    z = np.random.default_rng(0).standard_normal((20, 7)).astype(np.float32)
    z[0, :3] = [0.0, -0.0, np.nan]
    out = np.empty_like(z)
    assert relu(z, out, zeros=np.zeros_like(z)) is out
    assert out.tobytes() == relu(z).tobytes()
