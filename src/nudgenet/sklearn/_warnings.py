"""The estimators' warnings, issued as scikit-learn's MLP issues them.

Scripts written for scikit-learn's MLP silence its warnings by module, as scikit-learn's own
examples do: ``warnings.filterwarnings("ignore", category=ConvergenceWarning,
module="sklearn")``.  A filter's ``module`` is matched against the name of the module a
warning is attributed to, so :func:`warn` attributes the estimators' warnings to scikit-learn's
MLP module (:data:`SKLEARN_MLP`); the line shown is still the user's, the first outside
nudgenet, and the warning is registered in that line's module as ``warnings.warn`` does (the
``"default"`` action shows it once per line).  A filter on ``module="__main__"`` therefore no
longer matches these warnings: scikit-learn's own are not attributed to ``__main__`` either.
"""

from __future__ import annotations

import sys
import warnings

from ..errors import caller_stacklevel

SKLEARN_MLP = "sklearn.neural_network._multilayer_perceptron"


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn ``message`` as scikit-learn's MLP module, at the user's line (module docstring)."""
    frame = sys._getframe(caller_stacklevel() - 1)  # the first frame outside nudgenet
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=SKLEARN_MLP,
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
        module_globals=frame.f_globals,
    )


def lbfgs_not_converged(status: int, reason: str, iterations: int, max_iter: int) -> str:
    """scikit-learn's words (``sklearn.utils.optimize._check_optimize_result``) for an L-BFGS
    run that ended with scipy's ``status`` and ``reason`` after ``iterations``."""
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
