"""Optional extras: a package imported only when the feature that needs it runs."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, feature: str) -> ModuleType:
    """The installed ``module``, or an ImportError of one line naming the pip extra that brings
    it: ``require("onnx", "onnx", "ONNX export")``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f'{feature} needs {module.split(".")[0]}, an optional extra: '
            f'pip install "nudgenet[{extra}]"'
        ) from None
