"""The compiled training step: the general engine's arithmetic without the graph.

``fit`` trains any model through the general engine (record the graph, walk it backward).  For the
model most people train, a :class:`~nudgenet.nn.Sequential` of ``Linear`` layers each followed by
at most one ReLU / Sigmoid / Tanh, with softmax cross-entropy (integer labels) or MSE, it runs
:class:`CompiledMLP` instead: the same equations, written once for the whole network, into
buffers reused from one step to the next::

    forward    z = a W + b   (GEMM into a buffer)         a = f(z)   (in place)
    loss       C, and δ = ∂C/∂z of the last layer        (in place)
    backward   ∂C/∂W = aᵀ δ,  ∂C/∂b = Σₙ δ                (written straight into the flat .grad)
               δ ← (δ Wᵀ) ⊙ f′(a)                        (into a buffer)

It computes the same numbers as the engine, bit for bit: the activation and loss rules are the
very array functions the engine's primitives call (``Activation.activate`` / ``delta``,
``CrossEntropy.value`` / ``delta``, ``SquaredError``), the matrix products are the same BLAS calls
with ``out=``, and gradients land where ``zero_grad(); backward()`` would put them.  The
optimiser's own ``step()`` then updates the flat buffer as usual.  ``tests/test_fast_path.py``
trains models both ways and compares every parameter exactly.

:meth:`CompiledMLP.compile` returns ``None`` for anything else (another layer, a hooked layer such
as ``fit(diagnostics=True)`` installs, probability targets, parameters the optimiser does not
own, ...), and ``fit`` then uses the general engine, which also raises the usual errors for bad
targets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from .functional.layers import Activation, log_softmax_array
from .functional.layers import ReLU as ReLURule
from .functional.layers import Sigmoid as SigmoidRule
from .functional.layers import Tanh as TanhRule
from .functional.losses import CrossEntropy, SquaredError, _scale
from .nn.layers import Identity, Linear, ReLU, Sequential, Sigmoid, Tanh
from .nn.losses import CrossEntropyLoss, MSELoss
from .nn.module import Module
from .optim import Optimizer

_RULES: dict[type, type[Activation]] = {ReLU: ReLURule, Sigmoid: SigmoidRule, Tanh: TanhRule}

# Below this many multiply-adds per matrix product, one BLAS thread is faster than several:
# waking and joining threads costs more than the product (on 2 busy cores, 10x more).
SMALL_GEMM = 1 << 24


@contextlib.contextmanager
def blas_threads_for(model: Module, batch_size: int) -> Iterator[None]:
    """Run the block on one BLAS thread when every ``Linear`` product of a batch is small.

    Uses threadpoolctl when it is installed (an optional dependency); otherwise does nothing.
    """
    sizes = [m.in_features * m.out_features for m in model.modules() if isinstance(m, Linear)]
    if not sizes or batch_size * max(sizes) >= SMALL_GEMM:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


class _Buffers:
    """The arrays one batch size needs: inputs, each layer's output, each hidden layer's δ."""

    def __init__(self, n: int, x: np.ndarray, y: np.ndarray, widths: list[int], dtype, scale):
        self.rows = np.arange(n)
        self.scale = scale  # the loss's 1/N (or 1), and ∂C/∂C · scale as backward() forms it
        self.g_scale = np.ones((), dtype=dtype) * scale
        self.x = np.empty((n, *x.shape[1:]), dtype=x.dtype)
        self.y = np.empty((n, *y.shape[1:]), dtype=y.dtype)
        self.acts = [self.x] + [np.empty((n, w), dtype=dtype) for w in widths]
        self.deltas = [np.empty((n, w), dtype=dtype) for w in widths[:-1]]
        self.loss = np.empty((n, widths[-1]), dtype=dtype)


class CompiledMLP:
    """Forward, loss and backward of a Linear/activation stack, with no graph (see module doc)."""

    def __init__(self, blocks: list[tuple[Linear, type[Activation] | None]], loss_fn, dtype):
        self.blocks = blocks
        self.cross_entropy = isinstance(loss_fn, CrossEntropyLoss)
        self.reduction = loss_fn.reduction
        self.dtype = dtype
        self._buffers: dict[int, _Buffers] = {}

    @classmethod
    def compile(cls, model: Module, loss_fn, optimizer: Optimizer, y: np.ndarray):
        """A compiled step for ``model`` trained on targets ``y``, or None if it does not apply."""
        if type(model) is not Sequential or "forward" in vars(model):
            return None
        blocks: list[list] = []
        for layer in model:
            kind = type(layer)
            if "forward" in vars(layer):  # a hooked layer: let the engine call the hook
                return None
            if kind is Linear:
                blocks.append([layer, None])
            elif kind in _RULES and blocks and blocks[-1][1] is None:
                blocks[-1][1] = _RULES[kind]
            elif kind is not Identity:
                return None
        params = model.parameters()
        owned = {id(p) for p in optimizer.params}
        if (
            not blocks
            or len({id(p) for p in params}) != len(params)
            or {id(p) for p in params} != owned
            or len({p.dtype for p in params}) != 1
            or not _targets_fit(loss_fn, y, blocks[-1][0].out_features)
        ):
            return None
        return cls([tuple(b) for b in blocks], loss_fn, params[0].dtype)

    def _buffers_for(self, n: int, x: np.ndarray, y: np.ndarray) -> _Buffers:
        if n not in self._buffers:
            widths = [linear.out_features for linear, _ in self.blocks]
            scale = _scale(self.reduction, n if self.cross_entropy else n * widths[-1])
            self._buffers[n] = _Buffers(n, x, y, widths, self.dtype, scale)
        return self._buffers[n]

    def train_step(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray):
        """Gradients of the loss on ``x[rows], y[rows]`` into every parameter's ``.grad``
        (overwritten, as after ``zero_grad()``); returns ``(outputs, targets, loss)``."""
        buf = self._buffers_for(len(rows), x, y)
        # the batch, gathered into reused buffers ("clip": fit's rows are valid, and the default
        # mode="raise" would gather into a temporary and copy that)
        x.take(rows, axis=0, out=buf.x, mode="clip")
        y.take(rows, axis=0, out=buf.y, mode="clip")
        acts = buf.acts  # acts[i] is the input of block i, acts[-1] the model's output
        for (linear, rule), a, z in zip(self.blocks, acts, acts[1:]):
            np.matmul(a, linear.weight.data, out=z)
            if linear.bias is not None:
                z += linear.bias.data
            if rule is not None:
                rule.activate(z, out=z)
        loss, delta = self._loss(acts[-1], buf)
        last_rule = self.blocks[-1][1]
        if last_rule is not None:
            delta = last_rule.delta(delta, acts[-1], out=delta)
        for i in range(len(self.blocks) - 1, -1, -1):
            linear, a = self.blocks[i][0], acts[i]
            np.matmul(a.T, delta, out=linear.weight.grad)
            if linear.bias is not None:
                np.add.reduce(delta, axis=0, out=linear.bias.grad)  # = delta.sum(axis=0)
            if i:
                upstream = np.matmul(delta, linear.weight.data.T, out=buf.deltas[i - 1])
                rule = self.blocks[i - 1][1]
                delta = upstream if rule is None else rule.delta(upstream, a, out=upstream)
        return acts[-1], buf.y, loss

    def _loss(self, out: np.ndarray, buf: _Buffers) -> tuple[float, np.ndarray]:
        """The batch loss and δ = ∂C/∂out (in ``buf.loss``), by the engine's own rules."""
        if self.cross_entropy:
            log_p = log_softmax_array(out, out=buf.loss)
            loss = float(CrossEntropy.value(log_p, buf.y, buf.scale, buf.rows))
            return loss, CrossEntropy.delta(log_p, buf.y, buf.g_scale, buf.rows, out=log_p)
        diff = np.subtract(out, buf.y, out=buf.loss)
        loss = float(SquaredError.value(diff, buf.scale))
        return loss, SquaredError.delta(diff, buf.g_scale, out=diff)


def _targets_fit(loss_fn, y: np.ndarray, classes: int) -> bool:
    """Whether ``y`` suits the compiled loss (else the engine runs, and reports what is wrong)."""
    if type(loss_fn) is CrossEntropyLoss:
        return (
            y.ndim == 1
            and y.dtype.kind in "iu"
            and len(y) > 0
            and 0 <= y.min()
            and y.max() < classes
        )
    if type(loss_fn) is MSELoss:
        return y.ndim == 2 and y.shape[1] == classes and y.dtype.kind == "f"
    return False
