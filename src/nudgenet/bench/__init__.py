"""Training benchmark: nudgenet against plain NumPy, PyTorch and scikit-learn, in one run.

``python -m nudgenet.bench`` trains 784-input, 10-class MLPs with softmax cross-entropy and plain
SGD (lr 0.1, rows reshuffled every epoch) on random float32 data, and prints per implementation
and architecture the median seconds per epoch after a warm-up epoch, GFLOP/s (6 × parameters ×
samples per epoch), the ratio to each comparator, the fraction of this machine's float32 GEMM
ceiling (measured in the same run, with the copy bandwidth), peak memory, and the time to predict
every row.  ``--json PATH`` writes it all as JSON.  ``--quick`` is a seconds-long smoke run.

Two floors run beside them: ``gemm-numpy`` and ``gemm-torch`` time only the matrix products of
the same training steps (z = a W, ∂W = aᵀ δ, δ Wᵀ) through NumPy's BLAS on the threads ``fit``
uses, and through PyTorch's BLAS: no implementation calling that BLAS can train faster, so
nudgenet's distance above its floor is its own overhead, and the gap between the floors is the
libraries' BLAS.

Architectures: A = 784-16-16-10 (batch 100 and 10), B = 784-128-64-10, C = 784-1024-1024-10
(batch 100; by default on a 10,000-row subset, as the table says).  Each implementation runs in
its own subprocess (clean peak memory, no shared thread pools); comparators that are not
installed (torch, scikit-learn) are skipped with a note.  See docs/performance.md.

The package: :mod:`.implementations` (what is timed, and the architectures), :mod:`.floors` (the
matrix products alone), :mod:`.machine` (the ceilings and the BLAS), :mod:`.worker` (one
implementation on one configuration, in a subprocess), :mod:`.run` (every configuration and
implementation, the machine's description) and :mod:`.report` (the ratios and the table);
``python -m nudgenet.bench`` is :mod:`.__main__`.
"""
