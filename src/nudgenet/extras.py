"""Optional extras: a package imported only when the feature that needs it runs."""

from __future__ import annotations

import importlib
from types import ModuleType

# the packages whose import name is not their name on the package index
PACKAGE_NAMES = {"sklearn": "scikit-learn", "PIL": "Pillow"}


def require(module: str, extra: str, feature: str) -> ModuleType:
    """The installed ``module``, or an ImportError of one line naming its package and the pip
    extra that brings it: ``require("onnx", "onnx", "ONNX export")``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise ImportError(
            f"{feature} needs {PACKAGE_NAMES.get(top, top)}, an optional extra: "
            f'pip install "nudgenet[{extra}]"'
        ) from None
