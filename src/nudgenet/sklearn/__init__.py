"""scikit-learn estimators trained by nudgenet: ``MLPClassifier`` and ``MLPRegressor``.

Change one import line of a working scikit-learn script::

    from nudgenet.sklearn import MLPClassifier   # was: from sklearn.neural_network import ...

The same parameters, defaults and fitted attributes as scikit-learn's MLP, and more: see
:class:`MLPClassifier`.  Needs the ``sklearn`` extra (scikit-learn and scipy).
"""

try:
    import scipy.optimize  # noqa: F401
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - tested by hiding the packages
    raise ImportError(
        f"nudgenet.sklearn needs scikit-learn and scipy ({error.name or error} is missing): "
        'pip install "nudgenet[sklearn]"'
    ) from None

from ._classifier import MLPClassifier
from ._regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
