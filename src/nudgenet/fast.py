"""The compiled training step: the general engine's arithmetic without the graph.

``fit`` trains any model through the general engine (record the graph, walk it backward).  For the
model most people train, a :class:`~nudgenet.nn.Sequential` of ``Linear`` layers each followed by
at most one ReLU / Sigmoid / Tanh, with softmax cross-entropy (integer labels) or MSE, it runs
:class:`CompiledMLP` instead: the same equations, written once for the whole network, into
buffers reused from one step to the next::

    forward    z = a W + b   (GEMM into a buffer)         a = f(z)   (in place)
    loss       C, and δ = ∂C/∂z of the last layer        (in place)
    backward   ∂C/∂W = aᵀ δ,  ∂C/∂b = 1ᵀ δ                (written straight into the flat .grad)
               δ ← (δ Wᵀ) ⊙ f′(a)                        (into a buffer)

It computes the same numbers as the engine, bit for bit: the activation and loss rules are the
very array functions the engine's primitives call (``Activation.activate`` / ``delta``,
``CrossEntropy.value`` / ``delta``, ``SquaredError``), the matrix products are the same BLAS calls
with ``out=``, and gradients land where ``zero_grad(); backward()`` would put them.  The
optimiser's own ``step()`` then updates the flat buffer as usual.  ``tests/test_fast_path.py``
trains models both ways and compares every parameter exactly.

After a step, :attr:`CompiledMLP.outputs` maps the name of the last layer of each block (the
activation, or the ``Linear`` when none follows; the name :func:`~nudgenet.nn.layers.leaf_layers`
gives it, ``"1"`` for ``model[1]``) to its output on the batch: the buffer the forward pass wrote,
not a copy, so it is valid until the next step.  Names, not layer objects: one activation
instance used after two layers is two places with two outputs.  ``fit`` hands it to callbacks
that ask for the batch's layer outputs (the dead-unit count of :mod:`nudgenet.diagnostics`).

:meth:`CompiledMLP.compile` returns ``None`` for anything else (another layer, a layer whose
``forward`` was replaced, probability targets, parameters the optimiser does not
own, ...), and ``fit`` then uses the general engine, which also raises the usual errors for bad
targets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from threadpoolctl import threadpool_limits

from .functional.layers import Activation
from .functional.layers import Linear as LinearRule
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
    """Run the block on one BLAS thread when every ``Linear`` product of a batch is small."""
    sizes = [m.in_features * m.out_features for m in model.modules() if isinstance(m, Linear)]
    if not sizes or batch_size * max(sizes) >= SMALL_GEMM:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


class _Buffers:
    """The arrays one batch size needs: inputs, each layer's output, each hidden layer's δ, and
    (:meth:`bind`) the parameter arrays each step reads and writes."""

    def __init__(self, n: int, x: np.ndarray, y: np.ndarray, widths: list[int], dtype, scale):
        self.scale = scale  # the loss's 1/N (or 1), and ∂C/∂C · scale as backward() forms it
        self.g_scale = np.ones((), dtype=dtype) * scale
        self.x = np.empty((n, *x.shape[1:]), dtype=x.dtype)
        self.y = np.empty((n, *y.shape[1:]), dtype=y.dtype)
        self.acts = [self.x] + [np.empty((n, w), dtype=dtype) for w in widths]
        self.deltas = [np.empty((n, w), dtype=dtype) for w in widths[:-1]]
        self.loss = np.empty((n, widths[-1]), dtype=dtype)  # MSE: p − y, then δ; CE: s
        self.exp = np.empty((n, widths[-1]), dtype=dtype)  # CE: e = exp s, then δ
        self.total = np.empty((n, 1), dtype=dtype)  # CE: max z, then S = Σ e
        self.offsets = np.arange(0, n * widths[-1], widths[-1])  # CE: flat row starts n·C
        self.index = np.empty(n, dtype=np.intp)  # CE: flat label positions n·C + yₙ
        self.ones = np.ones(n, dtype=dtype)  # ∂b = 1ᵀ δ
        self.flat = None  # the optimiser's buffer the plans below were bound to

    def bind(self, blocks, flat) -> None:
        """Bind the step to the parameter arrays now living in ``flat`` (the optimiser's buffer):
        per block the forward's ``(a, W, z, b, f)`` and, last block first, the backward's
        ``(aᵀ, ∂W, ∂b, Wᵀ, δ buffer below, a, f′ below)``, so a step does no attribute look-ups."""
        acts, self.flat = self.acts, flat
        self.forward = []
        self.backward = []
        for i, (linear, rule) in enumerate(blocks):
            bias = linear.bias
            self.forward.append((
                acts[i], linear.weight.data, acts[i + 1],
                None if bias is None else bias.data, None if rule is None else rule.activate,
            ))  # fmt: skip
            below = blocks[i - 1][1] if i else None
            self.backward.append((
                acts[i].T, linear.weight.grad, None if bias is None else bias.grad,
                linear.weight.data.T if i else None, self.deltas[i - 1] if i else None,
                acts[i], None if below is None else below.delta,
            ))  # fmt: skip
        self.backward.reverse()
        last = blocks[-1][1]
        self.last_delta = None if last is None else last.delta


class CompiledMLP:
    """Forward, loss and backward of a Linear/activation stack, with no graph (see module doc)."""

    def __init__(
        self,
        blocks: list[tuple[Linear, type[Activation] | None]],
        loss_fn,
        optimizer: Optimizer,
        dtype,
        ends: list[str],
    ):
        self.blocks = blocks
        self.ends = ends  # the name of each block's last layer: its Linear or the activation
        self.outputs: dict[str, np.ndarray] = {}  # end layer's name -> its output, last batch
        self._current: _Buffers | None = None  # the buffers ``outputs`` points into
        self.cross_entropy = isinstance(loss_fn, CrossEntropyLoss)
        self.reduction = loss_fn.reduction
        self.optimizer = optimizer
        self.dtype = dtype
        self._buffers: dict[int, _Buffers] = {}

    @classmethod
    def compile(cls, model: Module, loss_fn, optimizer: Optimizer, y: np.ndarray):
        """A compiled step for ``model`` trained on targets ``y``, or None if it does not apply."""
        if type(model) is not Sequential or "forward" in vars(model):
            return None
        blocks: list[list] = []
        ends: list[str] = []
        for name, layer in model.named_children():  # a flat Sequential: as leaf_layers names
            kind = type(layer)
            if "forward" in vars(layer):  # a hooked layer: let the engine call the hook
                return None
            if kind is Linear:
                blocks.append([layer, None])
                ends.append(name)
            elif kind in _RULES and blocks and blocks[-1][1] is None:
                blocks[-1][1] = _RULES[kind]
                ends[-1] = name
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
        return cls([tuple(b) for b in blocks], loss_fn, optimizer, params[0].dtype, ends)

    def _buffers_for(self, n: int, x: np.ndarray, y: np.ndarray) -> _Buffers:
        buf = self._buffers.get(n)
        if buf is None:
            widths = [linear.out_features for linear, _ in self.blocks]
            scale = _scale(self.reduction, n if self.cross_entropy else n * widths[-1])
            buf = self._buffers[n] = _Buffers(n, x, y, widths, self.dtype, scale)
        return buf

    def train_step(self, x: np.ndarray, y: np.ndarray, rows: np.ndarray):
        """Gradients of the loss on ``x[rows], y[rows]`` into every parameter's ``.grad``
        (overwritten, as after ``zero_grad()``); returns ``(outputs, targets, loss)``."""
        # the optimiser's buffer, re-packed first if a parameter was moved or converted since the
        # last step (as the engine's zero_grad() would): the bound arrays are then its views
        flat = self.optimizer._buffer()
        buf = self._buffers_for(len(rows), x, y)
        if buf.flat is not flat:
            buf.bind(self.blocks, flat)
        if buf is not self._current:  # another batch size: outputs now live in these buffers
            self._current = buf
            self.outputs.update(zip(self.ends, buf.acts[1:]))
        # the batch, gathered into reused buffers ("clip": fit's rows are valid, and the default
        # mode="raise" would gather into a temporary and copy that)
        x.take(rows, axis=0, out=buf.x, mode="clip")
        y.take(rows, axis=0, out=buf.y, mode="clip")
        matmul, bias_grad, ones = np.matmul, LinearRule.bias_grad, buf.ones
        for a, w, z, b, activate in buf.forward:  # z = a W + b;  a = f(z)
            matmul(a, w, out=z)
            if b is not None:
                z += b
            if activate is not None:
                activate(z, out=z)
        out = buf.acts[-1]
        loss, delta = self._loss(out, buf)
        if buf.last_delta is not None:
            delta = buf.last_delta(delta, out, out=delta)
        for a_t, grad_w, grad_b, w_t, upstream, a, below_delta in buf.backward:
            matmul(a_t, delta, out=grad_w)  # ∂W = aᵀ δ
            if grad_b is not None:
                bias_grad(delta, ones, out=grad_b)  # ∂b = Σₙ δ = 1ᵀ δ
            if w_t is not None:  # δ ← (δ Wᵀ) ⊙ f′(a) for the block below
                delta = matmul(delta, w_t, out=upstream)
                if below_delta is not None:
                    delta = below_delta(delta, a, out=delta)
        return out, buf.y, loss

    def _loss(self, out: np.ndarray, buf: _Buffers) -> tuple[float, np.ndarray]:
        """The batch loss and δ = ∂C/∂out, by the engine's own rules."""
        if self.cross_entropy:
            s, e, total = CrossEntropy.parts(out, buf.loss, buf.exp, buf.total)
            index = CrossEntropy.label_index(buf.y, None, buf.offsets, buf.index)
            loss = float(CrossEntropy.value(s, total, buf.y, buf.scale, index))
            return loss, CrossEntropy.delta(e, total, buf.y, buf.g_scale, index, out=e)
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
