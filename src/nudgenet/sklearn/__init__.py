"""scikit-learn estimators trained by nudgenet: ``MLPClassifier`` and ``MLPRegressor``.

Change one import line of a working scikit-learn script::

    from nudgenet.sklearn import MLPClassifier   # was: from sklearn.neural_network import ...

The same parameters, defaults and fitted attributes as scikit-learn's MLP, and more: see
:class:`MLPClassifier`.  Needs the ``sklearn`` extra (scikit-learn and scipy): without it,
importing this package is a one-line ImportError naming it.
"""

from ..extras import require

require("scipy.optimize", "sklearn", "nudgenet.sklearn")  # first: scikit-learn needs scipy
require("sklearn", "sklearn", "nudgenet.sklearn")

from ._classifier import MLPClassifier  # noqa: E402 - after the check of the extra
from ._regressor import MLPRegressor  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor"]
