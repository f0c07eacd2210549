"""Building an ONNX graph with the ``onnx`` package's helpers (``onnx.helper``,
``onnx.numpy_helper``): nodes with names from a counter (the same model gives the same file),
constants as initializers in the graph's float type."""

from __future__ import annotations

from types import ModuleType

import numpy as np


class GraphBuilder:
    """The nodes and initializers of one graph of float type ``dtype`` (float32 or float64)."""

    def __init__(self, onnx: ModuleType, dtype: np.dtype, names: dict[int, str]):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.names = names  # id of a parameter's array -> its name in the model ("0.weight")
        self.nodes: list = []
        self.initializers: list = []
        self._taken: set[str] = set()

    @property
    def float32(self) -> bool:
        return self.dtype == np.float32

    def fresh(self, hint: str) -> str:
        """A new value name: ``hint``, or ``hint_2``, ``hint_3``, ... once taken."""
        name, k = hint, 1
        while name in self._taken:
            k += 1
            name = f"{hint}_{k}"
        self._taken.add(name)
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes) -> str:
        """Add the node ``op_type(inputs)`` (ONNX attributes as keywords); returns its output's
        name (``output``, or a fresh one named after the operation)."""
        out = output or self.fresh(op_type.lower())
        self._taken.add(out)
        self.nodes.append(
            self.onnx.helper.make_node(op_type, list(inputs), [out], name=out, **attributes)
        )
        return out

    def constant(self, value, hint: str = "const") -> str:
        """An initializer holding ``value`` (floats in the graph's dtype, integers as int64);
        a parameter keeps its name in the model."""
        array = np.asarray(value)
        name = self.names.get(id(value), None) if isinstance(value, np.ndarray) else None
        if array.dtype.kind == "f":
            array = array.astype(self.dtype)
        elif array.dtype.kind in "iub":
            array = array.astype(np.int64)
        name = self.fresh(name or hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def scalar(self, value: float, hint: str = "const") -> str:
        """A 0-d float constant of the graph's dtype."""
        return self.constant(np.asarray(value, dtype=self.dtype), hint)

    def int64s(self, values, hint: str = "axes") -> str:
        """A 1-d int64 constant (axes, shapes, slice bounds)."""
        return self.constant(np.asarray(list(values), dtype=np.int64).reshape(-1), hint)

    def value_info(self, name: str, shape, elem_type=None):
        """A graph input or output: ``name``, its element type (the graph's float type unless
        given) and ``shape`` (ints, and strings for symbolic sizes such as ``"batch"``)."""
        if elem_type is None:
            elem_type = self.onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        return self.onnx.helper.make_tensor_value_info(name, elem_type, list(shape))
