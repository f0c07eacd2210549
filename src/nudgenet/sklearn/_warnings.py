"""The estimators' warnings, issued as scikit-learn's MLP issues them.

Scripts written for scikit-learn's MLP silence its warnings by module, as scikit-learn's own
examples do: ``warnings.filterwarnings("ignore", category=ConvergenceWarning,
module="sklearn")``.  A filter's ``module`` is matched against the name of the module a
warning is attributed to, so :func:`warn` attributes the estimators' warnings to scikit-learn's
MLP module (:data:`SKLEARN_MLP`); the line shown is still the user's, the first outside
nudgenet, and the warning is registered in that line's module as ``warnings.warn`` does.  A
filter on ``module="__main__"`` therefore no longer matches these warnings: scikit-learn's own
are not attributed to ``__main__`` either.
"""

from __future__ import annotations

import sys
import warnings

from ..errors import caller_stacklevel

SKLEARN_MLP = "sklearn.neural_network._multilayer_perceptron"


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn ``message`` as scikit-learn's MLP module, at the user's line (module docstring)."""
    try:
        frame = sys._getframe(caller_stacklevel() - 1)  # the first frame outside nudgenet
    except ValueError:  # none outside nudgenet (called from C, say): the outermost one
        frame = sys._getframe()
        while frame.f_back is not None:
            frame = frame.f_back
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=SKLEARN_MLP,
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
    )  # no module_globals: their loader (python -c's, say) may not give the source


def lbfgs_not_converged(status: int, reason: str, iterations: int, max_iter: int) -> str:
    """scikit-learn's words (those of ``sklearn.utils.optimize._check_optimize_result`` in 1.9;
    a test compares them with the installed version's) for an L-BFGS run that ended with
    scipy's ``status`` and ``reason`` after ``iterations``.  Not scikit-learn's function
    itself: it warns from nudgenet's module, which filters on ``module="sklearn"`` miss."""
    message = f"lbfgs failed to converge after {iterations} iteration(s) (status={status}):\n"
    message += f"{reason}\n"
    if iterations == max_iter:
        message += (
            f"\nIncrease the number of iterations to improve the convergence "
            f"(max_iter={max_iter})."
        )
    return message + (
        "\nYou might also want to scale the data as shown in:\n"
        "    https://scikit-learn.org/stable/modules/preprocessing.html"
    )
