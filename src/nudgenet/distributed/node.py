"""A data-parallel step's gradients summed through the memory the ranks of a machine share.

Ranks on one machine (a *node*: ``Split_type(COMM_TYPE_SHARED)``) need not send each other
their gradients: MPI can give them one shared memory window (``Win.Allocate_shared``), and then
a rank reads the others' gradients where they lie.  :class:`NodeReduction` keeps there one
copy of the parameters and of the optimiser's state for the whole node, and for each rank its
flat gradient buffer with its loss in a spare element after it (the views the rank's
parameters' ``.data``, ``.grad`` and the optimiser's state arrays become).  Cut the ``P``
gradients into one contiguous part per node rank (:func:`~.shard.bounds`); a step is::

    each rank   its rows' mean gradient and loss into its own buffer, its share s_r to the node
    barrier
    every rank  the loss Σ_k s_k · loss_k over the node's ranks in rank order (then summed
                across nodes)
    rank r      on its part: g = Σ_k s_k · g_k in rank order (the node's sum), then, across
                nodes, one in-place Allreduce of that part among the ranks of the same node
                rank; g into its own buffer (and every node rank's, when ``whole``)
    (barrier)   only when the update reads the whole gradient (clipping: ``settle``)
    rank r      the optimiser's update of its part of the parameters and state (``step(part)``)
    barrier     the parameters are whole again for the next forward

A rank reads the other ranks' buffers only before its update, so the last barrier also keeps
every rank from writing its next gradient while another still reads it.  A rank's ``.grad``
holds the global batch's gradient in its own part only, unless ``whole`` (fit sets it when
callbacks or gradient clipping may read the gradients during training): then every part, in
every rank's buffer, complete after the last barrier (after the middle one with ``settle``).
At the end of fit every rank gets the whole gradient of the last batch.

So no gradient is copied from rank to rank on a machine: each element is read where its rank
wrote it, once, by the rank summing that part (and the sum written to the others only when
``whole``); and the optimiser's update, done once per node instead of once per rank, is split
among the node's ranks.  A barrier is MPI-3's idiom for a shared window, ``Win.Sync(); Barrier();
Win.Sync()``: what each rank wrote before it is visible to all after it.

Across nodes the parts travel through MPI (an Allreduce per node rank, of its part only), so
this needs nodes of equal size; :func:`reduction_for` falls back to
:class:`~.allreduce.GradientAllreduce` (every rank its own copy, one Allreduce of the whole
buffer) where they differ, where an optimiser replaces ``step`` (which could not be split),
where a callback may write the parameters in place (every rank runs it: on one shared copy the
write would happen once per rank; built-in callbacks that only read say so,
:func:`~nudgenet.callbacks.may_write_parameters`), and, with a warning, where a machine's
``/dev/shm`` lacks room for the window (a container's default is 64 MiB).  Both compute the
update one process would, to rounding (ranks summed in rank order).

:meth:`NodeReduction.release` copies the parameters and the state back to each rank's own
memory before the window is freed: arrays taken from the parameters *during* a distributed fit
(views of the window) must not be kept past it.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from ..callbacks import may_write_parameters
from ..errors import DistributedError, SharedMemoryWarning, caller_stacklevel
from ..nn.flat import FlatParameters, flatten
from ..optim import Optimizer
from .allreduce import GradientAllreduce
from .shard import bounds
from .shared_memory import (
    SHARED_MEMORY,
    aligned,
    has_room,
    shared_memory_free,
    split_nodes,
    synchronize,
)

_PIECE = 1 << 15  # elements summed at a time: the piece and its work arrays stay in cache


def _layout(optimizer: Optimizer) -> tuple[np.dtype, int, list[str]]:
    """The flat buffer's dtype and size and the optimiser's state arrays' names."""
    params = optimizer.params
    dtype = np.result_type(*[p.data for p in params])
    return dtype, sum(p.data.size for p in params), list(optimizer.state)


def reduction_for(comm, optimizer: Optimizer, callbacks: list):
    """The step's reduction for ``optimizer`` on ``comm``: a :class:`NodeReduction` when every
    node has as many ranks, the optimiser's ``step`` is the base class's (it can update a
    part), no callback may write the parameters (each rank would: one write per rank on the
    one copy, :func:`~nudgenet.callbacks.may_write_parameters`) and every machine's shared
    memory has room for the window (else, with a warning); otherwise a
    :class:`~.allreduce.GradientAllreduce`, on every rank alike."""
    node = split_nodes(comm)
    needed = NodeReduction.window_bytes(optimizer, node.Get_size())
    free = shared_memory_free() if node.Get_rank() == 0 else None
    room = has_room(free, needed)
    everyone = comm.allgather((node.Get_size(), room, free))
    shared = (
        len({size for size, _, _ in everyone}) == 1
        and type(optimizer).step is Optimizer.step
        and not any(may_write_parameters(cb) for cb in callbacks)
    )
    if shared and all(fits for _, fits, _ in everyone):
        return NodeReduction(comm, node, optimizer)
    if shared:
        least = min(free for _, fits, free in everyone if not fits)
        warnings.warn(
            f"fit(distributed=True): {SHARED_MEMORY} has {least / 2**20:.0f} MiB free where "
            f"the ranks of a machine would share {needed / 2**20:.0f} MiB of parameters, "
            "optimiser state and gradients; summing with Allreduce instead (give the machine "
            "or container more, e.g. docker run --shm-size)",
            SharedMemoryWarning,
            stacklevel=caller_stacklevel(),
        )
    node.Free()
    return GradientAllreduce(comm, optimizer)


class NodeReduction:
    """The module doc's step, for ``optimizer`` on ``comm`` whose ranks on this machine form
    ``node``.  Called per step as ``reduction(share, loss) -> global loss``; then the update of
    ``part``, then :meth:`updated`; :meth:`release` at the end of fit.  Counts ``seconds`` and
    ``calls`` of the reduction and ``bytes``, the size of the buffer it sums."""

    def __init__(self, comm, node, optimizer: Optimizer):
        from mpi4py import MPI

        self.optimizer, self.node, self.seconds, self.calls = optimizer, node, 0.0, 0
        self._MPI = MPI
        rank, ranks = node.Get_rank(), node.Get_size()
        self.rank = rank
        nodes = comm.Split(color=rank, key=comm.Get_rank())  # rank r of every node
        self.across = nodes if nodes.Get_size() > 1 else None
        if self.across is None:
            nodes.Free()
        dtype, size, names = _layout(optimizer)
        self.dtype, self.size = dtype, size
        shared = [size] * (1 + len(names))  # parameters, then each state array: rank 0 holds
        item = dtype.itemsize
        common = sum(aligned(n * item) for n in shared) + aligned(8 * ranks)
        own = aligned((size + 1) * item)
        info = MPI.Info.Create()
        info.Set("alloc_shared_noncontig", "true")  # each rank's part on its own pages
        self.window = MPI.Win.Allocate_shared(own + (common if rank == 0 else 0), 1, info, node)
        info.Free()
        self.window.Lock_all(MPI.MODE_NOCHECK)
        base = np.frombuffer(self.window.Shared_query(0)[0], np.uint8)
        arrays, offset = [], 0
        for n in shared:
            arrays.append(base[offset : offset + n * item].view(dtype))
            offset += aligned(n * item)
        self.shares = base[offset : offset + 8 * ranks].view(np.float64)  # s_k of each rank
        self.buffers = [
            np.frombuffer(self.window.Shared_query(k)[0], np.uint8)[-own:][: (size + 1) * item]
            .view(dtype) for k in range(ranks)
        ]  # fmt: skip
        self.data, self.states = arrays[0], dict(zip(names, arrays[1:]))
        start, stop = bounds(size, rank, ranks)
        self.part = slice(start, stop)  # the gradients this rank sums, the parameters it updates
        self.whole = True  # every rank's buffer gets every part of the sum (module doc)
        self.settle = True  # every part summed before any rank's update (module doc)
        self.pieces = [slice(i, min(i + _PIECE, stop)) for i in range(start, stop, _PIECE)]
        self.work = np.empty((2, _PIECE), dtype)
        self._home = flatten(optimizer.params), dict(optimizer.state)  # where release() returns
        self._pack()

    @staticmethod
    def window_bytes(optimizer: Optimizer, ranks: int) -> int:
        """The shared memory a machine of ``ranks`` ranks needs: the parameters and the
        optimiser's state once, a gradient buffer per rank."""
        dtype, size, names = _layout(optimizer)
        return dtype.itemsize * (size * (1 + len(names)) + (size + 1) * ranks) + 8 * ranks

    @property
    def bytes(self) -> int:
        """Bytes of the buffer summed per step: the gradients and the loss."""
        return (self.size + 1) * self.dtype.itemsize

    def _sync(self) -> None:
        """Every node rank here, and what each wrote to the window visible to all."""
        synchronize(self.window, self.node)

    def _pack(self) -> None:
        """Bind the parameters and the optimiser's state to the window: node rank 0 writes
        their values there (every rank holds the same ones, rank 0's), then the others bind
        theirs without writing."""
        storage = (self.data, self.buffers[self.rank])
        if self.rank == 0:
            self.flat = FlatParameters(self.optimizer.params, spare=1, storage=storage)
            for name, array in self.states.items():
                array[...] = self.optimizer.state[name]
        self._sync()
        if self.rank:
            self.flat = FlatParameters(
                self.optimizer.params, spare=1, storage=storage, write_data=False
            )
        self.optimizer.flat_params  # noqa: B018  (the optimiser adopts the buffer)
        self.optimizer.state = dict(self.states)

    def __call__(self, share: float, loss: float) -> float:
        """Sum the node's (and the other nodes') ``share``-weighted gradients and losses
        (module doc); returns the global batch's loss."""
        if not self.flat.is_current() and not self.flat.follow_freezing():  # (by a callback)
            raise DistributedError(
                "fit(distributed=True): a parameter was rebound or converted during training, "
                "which the machine's shared copy of the parameters cannot follow"
            )
        started = time.perf_counter()
        self.flat.spare[0] = loss
        self.shares[self.rank] = share
        self._sync()
        shares = [float(s) for s in self.shares]
        loss = sum(s * float(buffer[self.size]) for s, buffer in zip(shares, self.buffers))
        if self.across is not None:
            loss = self.across.allreduce(loss)
        self._sum(shares)
        if self.settle or not math.isfinite(loss):  # fit reads the gradients, without updating
            self._sync()
        self.seconds += time.perf_counter() - started
        self.calls += 1
        return loss

    def _sum(self, shares: list[float]) -> None:
        """Σ_k s_k · g_k over this rank's part, in rank order, into its own buffer (and every
        node rank's, when ``whole``), after the Allreduce across nodes, when there are some."""
        buffers, own = self.buffers, self.buffers[self.rank]
        others = [b for b in buffers if b is not own] if self.whole and not self.across else []
        alike = len(set(shares)) == 1  # even shares: s · Σ_k g_k, one product per element
        total, term = self.work
        for piece in self.pieces:
            t, w = total[: piece.stop - piece.start], term[: piece.stop - piece.start]
            if alike:
                first = buffers[0][piece]
                for buffer in buffers[1:]:
                    first = np.add(first, buffer[piece], out=t)
                np.multiply(first, shares[0], out=own[piece])
            else:
                np.multiply(buffers[0][piece], shares[0], out=t)
                for buffer, share in zip(buffers[1:], shares[1:]):
                    np.multiply(buffer[piece], share, out=w)
                    np.add(t, w, out=t)
                own[piece] = t
            for buffer in others:
                buffer[piece] = own[piece]
        if self.across is not None:
            self.across.Allreduce(self._MPI.IN_PLACE, own[self.part], op=self._MPI.SUM)
            if self.whole:
                self._share_part()

    def _share_part(self) -> None:
        """This rank's part of its buffer into every node rank's buffer."""
        own = self.buffers[self.rank]
        for buffer in self.buffers:
            if buffer is not own:
                buffer[self.part] = own[self.part]

    def updated(self) -> None:
        """After this rank's update of its part: wait until every node rank updated its own."""
        self._sync()

    def release(self) -> None:
        """The parameters, the last batch's whole gradient and the optimiser's state back in
        this rank's own memory, the very arrays they were in before fit (arrays taken from them
        then see the values after it, as in one process), then the window freed (every rank
        calls it, at the end of fit)."""
        if not self.whole:  # each part of the last gradient to every rank
            self._sync()
            self._share_part()
        self._sync()
        home, state = self._home
        home.restore()
        self.flat = home
        self.optimizer.flat_params  # noqa: B018  (the optimiser adopts it again)
        self.optimizer.state = {name: _into(state.get(name), array)
                                for name, array in self.states.items()}  # fmt: skip
        self.node.Barrier()  # nobody frees what another still copies
        self.buffers = self.states = self.data = self.shares = None
        self.window.Unlock_all()
        self.window.Free()
        if self.across is not None:
            self.across.Free()
        self.node.Free()


def _into(home: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """``values`` copied into ``home`` (the array an optimiser's state was in before fit) where
    it fits them, else a copy of its own."""
    if home is None or home.shape != values.shape or home.dtype != values.dtype:
        return values.copy()
    home[...] = values
    return home
