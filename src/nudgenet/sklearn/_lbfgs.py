"""``solver="lbfgs"``: scipy's L-BFGS-B on the optimiser's flat parameter and gradient buffers.

The objective is scikit-learn's full-batch loss and its gradient: one step of ``fit``'s own
(the compiled step where it covers the model, else the engine's) over every row, writing the
gradient into ``flat_grads``, which :meth:`~._optim.Regularized.regularize` turns into
scikit-learn's (loss factor, L2 term on the weights).  scipy works in float64; the buffers
keep the network's dtype; one BLAS thread where the products are small, as in ``fit``.
Options as scikit-learn's: ``maxiter=max_iter``, ``maxfun=max_fun``, ``gtol=tol``;
``n_iter_`` (at most ``max_iter``) and, where scipy did not converge, scikit-learn's
ConvergenceWarning in its words, issued as scikit-learn's MLP does (:mod:`._warnings`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from ..blas_threads import blas_threads_for
from ..step import choose_step
from ._warnings import lbfgs_not_converged, warn


def minimize(est, solver, loss_fn, loss_factor: float, x, y, weights) -> str | None:
    """Train ``est._model`` (whose parameters ``solver`` holds) by L-BFGS-B; sets ``n_iter_``
    and ``loss_``.  ``weights``: one per row, or None.  Returns None, or for a final loss that
    is not finite (scipy stops on one: inputs too large for the network) words saying so."""
    model = est._model
    step = choose_step(model, loss_fn, solver, x, y, [], "auto", weights)
    rows = np.arange(len(x))
    solver.rows = len(x)  # a weighted loss_fn (WeightTotal) sets the weight total instead
    model.train()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        solver.flat_params[...] = theta
        _, _, loss = step(x, y, rows)
        penalty = solver.regularize()
        return loss_factor * loss + penalty, solver.flat_grads.astype(np.float64)

    def report(intermediate_result) -> None:
        print(f"Iteration {report.count}, loss = {intermediate_result.fun:.8f}")
        report.count += 1

    report.count = 1
    with blas_threads_for(model, len(x)):  # one BLAS thread where the products are small
        result = scipy.optimize.minimize(
            objective,
            solver.flat_params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=report if est.verbose else None,
            options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol},
        )
    est.n_iter_ = min(result.nit, est.max_iter)
    if result.status != 0:
        reason = lbfgs_not_converged(result.status, result.message, est.n_iter_, est.max_iter)
        warn(reason, ConvergenceWarning)
    est.loss_ = np.float64(result.fun)  # scikit-learn's type
    solver.flat_params[...] = result.x
    if math.isfinite(est.loss_):
        return None
    return f"L-BFGS-B's loss is {est.loss_} after {est.n_iter_} iterations, at the weights it kept"
