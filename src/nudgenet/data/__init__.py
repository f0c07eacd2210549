"""Data sets and data handling for nudgenet (exposed as ``nudgenet.datasets``).

Data sets: :func:`mnist`, :func:`digits` (bundled, offline), :func:`black_scholes`, :func:`xor`,
:func:`spirals`; Monte-Carlo payoffs with pathwise derivatives for differential training:
:func:`black_scholes_mc`, :func:`bachelier_basket`. Your own data: :func:`load_arrays` (.npz,
.csv; :func:`resolve_label_column` says which CSV column holds the labels; :func:`memmap_arrays`
maps .npy/.npz arrays without reading them, :func:`save_arrays` writes .npz archives it maps),
:func:`load_idx_pair`,
:func:`load_idx` / :func:`save_idx`. Preparation: :func:`train_test_split`,
:class:`Standardizer`.

Conventions: features are float32 ``(N, features)``; class labels are int64 ``(N,)`` (labels
that are names, ``cat``/``dog``, are encoded as scikit-learn's LabelEncoder does: sorted names →
0..k-1, see :func:`load_arrays`'s ``return_classes`` and ``classes``); every
random choice takes a ``seed`` (int or ``numpy.random.Generator``); bad files raise
:class:`nudgenet.errors.DataError` naming what was expected and what was found.
"""

from .column_names import name_form, named_column
from .csvfile import (
    check_rereadable,
    first_row,
    header_row,
    resolve_label_column,
    resolve_unused_columns,
)
from .handwritten import digits, mnist
from .idx import load_idx, load_idx_pair, save_idx
from .label_column import NoLabelColumn
from .memmap import memmap_arrays, save_arrays
from .montecarlo import (
    BasketSamples,
    MonteCarloOptions,
    bachelier_basket,
    bachelier_basket_call,
    basket_market,
    black_scholes_mc,
    call_payoff,
)
from .options import OptionSamples, black_scholes, black_scholes_call
from .scaling import Standardizer
from .split import train_test_split
from .toy import spirals, xor
from .userdata import load_arrays

__all__ = [
    "BasketSamples",
    "MonteCarloOptions",
    "NoLabelColumn",
    "bachelier_basket",
    "bachelier_basket_call",
    "basket_market",
    "black_scholes_mc",
    "call_payoff",
    "OptionSamples",
    "Standardizer",
    "black_scholes",
    "black_scholes_call",
    "check_rereadable",
    "digits",
    "load_arrays",
    "load_idx",
    "load_idx_pair",
    "memmap_arrays",
    "mnist",
    "first_row",
    "header_row",
    "name_form",
    "named_column",
    "resolve_label_column",
    "resolve_unused_columns",
    "save_arrays",
    "save_idx",
    "spirals",
    "train_test_split",
    "xor",
]
