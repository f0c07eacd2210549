"""``nudgenet train``: train an MLP on a data set, report held-out scores, save the model."""

from __future__ import annotations

import contextlib
import math
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

from .. import data as datasets
from .. import recipes
from ..callbacks import EarlyStopping
from ..checkpoint import Checkpoint
from ..data.csv_cells import column_shown
from ..diagnostics import per_layer
from ..divergence import TerminateOnDivergence
from ..errors import (
    AbsentClassWeightWarning,
    DataError,
    NudgenetError,
    SharedMemoryWarning,
    ValidationRowsWarning,
)
from ..evaluation import evaluate
from ..files import may_write
from ..holdout import validation_rows
from ..nn.layers import Unstandardize
from ..nn.weights import in_units
from ..plot import check_figure_path
from ..train import fit
from .baseline import check_features_vary, learnt_nothing
from .class_weight import class_weight_for
from .columns import feature_names
from .common import (
    UsageError,
    absolute,
    emit_json,
    format_figure,
    load_data,
    metrics_for,
    warning_notes,
)
from .data_columns import note_look_alike_classes, note_row_ids, unused_columns
from .differential import differential_defaults, training_loss
from .logs import check_log_file, log_callbacks
from .mpi import load_once_per_machine, under_mpi
from .output import (
    KEPT_BETTER_MODEL,
    check_comparable,
    check_distinct,
    check_output,
    check_outputs,
    gradients_figure,
    save_unless_worse,
    scores_text,
)
from .train_options import DEFAULT_VALIDATION_SPLIT, add_train_options, momentum_for


def run(args) -> int:
    started = time.perf_counter()
    differential_defaults(args)  # --activation and --optimizer when not given
    if args.restart and not args.checkpoint:
        raise UsageError("--restart starts a --checkpoint folder's run over: it needs --checkpoint")
    if args.plot:  # a missing matplotlib fails now, not after training (the parser took the suffix)
        check_figure_path(args.plot)
    output = Path(args.output or f"nudgenet-{Path(args.dataset).stem}.safetensors")
    check_distinct(args, output)  # two options naming one path: one would replace the other
    existing = check_output(output, args.overwrite)  # so does a file that must not be replaced
    if args.log_csv:  # (on every rank: the run's options)
        check_log_file(args)
    if may_write():  # and the other files it writes (rank 0's, under mpiexec)
        check_outputs(args)
    loading = partial(load_data, args, args.test_size, args.seed, args.samples)
    data, shared = load_once_per_machine(args, loading)  # under mpiexec: one copy a machine
    if data.task == "classification" and len(data.class_names) < 2:
        column = " (is the label column the right one? --label-column names it)"
        raise DataError(
            f"{data.name}: every label is {data.class_names[0]!r}: a classifier needs two or more "
            f"classes{column * (data.label_column is not None)}"
        )
    standardize = args.standardize
    if standardize is None:  # images are already in [0, 1]; other data gets standardised
        standardize = not data.record.images
    stats = None
    if standardize:
        scaler = datasets.Standardizer().fit(data.x_train)
        stats = (scaler.mean_, scaler.scale_)
    hidden = args.layers
    loss_fn = recipes.resolve_loss(args.loss, data.task)
    outputs = loss_fn.output_units(data.outputs)
    model = recipes.build_mlp(data.features, hidden, outputs, args.activation, stats, args.seed)
    if args.dtype == "float64":
        model.double()
    y_train = loss_fn.check_targets(data.y_train, outputs)
    y_test = loss_fn.check_targets(data.y_test, outputs)
    ignored, weight_column = unused_columns(args, data)
    unused = tuple(column for column in (*ignored, weight_column) if column is not None)
    names = feature_names(data.name, data.label_column, data.features, unused)
    record = recipes.TrainingRecord(
        # absolute paths: evaluate and explain find the files again from any folder
        dataset=data.name if data.name in recipes.DATASETS else absolute(data.name),
        data_dir=absolute(args.data_dir),
        labels=absolute(args.labels),
        label_column=data.label_column,
        ignore_columns=ignored,
        weight_column=weight_column,
        task=data.task,
        loss=type(loss_fn).__name__,
        class_names=tuple(data.class_names),
        feature_names=tuple(names or data.record.columns),
        test_size=args.test_size,
        seed=args.seed,
        samples=args.samples,
        rows_checksum=None if data.name in recipes.DATASETS else recipes.rows_checksum(data),
    )
    check_comparable(output, record, existing)  # before training: its score is compared after
    target_scaler, y_fit = None, y_train
    if standardize and data.task == "regression":  # train on z-scored targets (see --help)
        target_scaler = datasets.Standardizer().fit(y_train)
        y_fit = target_scaler.transform(y_train)
    optimizer = recipes.build_optimizer(args.optimizer, model.parameters(), args.lr,
                                        momentum_for(args), data.task)  # fmt: skip
    validation_split, validation_note = _validation_split(args.validation_split, len(y_train))
    stopping = None
    if args.early_stopping:
        if not validation_split:
            raise UsageError("--early-stopping watches val_loss: it needs --validation-split > 0")
        stopping = EarlyStopping(patience=args.early_stopping, restore_best=True)
    if args.verbose or not (args.json or args.quiet):
        labels = ("" if data.label_column is None
                  else f", labels in column {column_shown(data.label_column)}")  # fmt: skip
        why = f"; {data.task_reason}" if data.task_reason else ""
        print(
            f"nudgenet: {data.name}: {data.note}{validation_note}; {data.task}, "
            f"{_features(data.features, record.feature_names)}{_classes(data.class_names)}"
            f"{labels}{why}",
            file=sys.stderr,
        )
    note_row_ids(data, names, unused)  # (notes: not with -q)
    note_look_alike_classes(data)
    fit_loss, y_fit = training_loss(args, data, loss_fn, y_fit, target_scaler)  # --differential
    history = _fit(args, model, fit_loss, optimizer, data, y_fit, validation_split, stopping)
    kept = _kept_epoch(history, stopping)
    if history.stop_reason == "early_stopping" and not args.quiet:
        print(
            f"nudgenet: early stopping after epoch {history.stopped_epoch + 1}: val_loss did not "
            f"improve for {args.early_stopping} epochs; keeping epoch {kept + 1}, the best "
            f"(val_loss {format_figure(history['val_loss'][kept])})",
            file=sys.stderr,
        )
    if target_scaler is not None:  # the saved model predicts in the targets' own units
        model.append(Unstandardize(target_scaler.mean_, target_scaler.scale_))
    scoring = partial(evaluate, distributed=args.distributed)  # under mpiexec: a share a rank
    scores = scoring(model, loss_fn, data.x_test, y_test, metrics=metrics_for(data.task))
    scored = record.scored(scores)
    saved = save_unless_worse(model, output, scored, args.overwrite)
    saved_to = saved and saved.path
    result = {
        "dataset": data.name,
        "task": data.task,
        "label_column": data.label_column,
        "classes": data.class_names or None,  # a classifier's, in the order of its outputs
        "epochs": len(history),
        "stop_reason": history.stop_reason,
        "kept_epoch": kept + 1,  # the epoch whose weights are saved, from 1
        **_fit_losses(scoring, model, loss_fn, data, y_train, history, kept, validation_split),
        "test_loss": scores["loss"],
        "units": "target" if data.task == "regression" else None,
        "model_path": str(saved_to or output),  # beside --output: it changed meanwhile
        "saved": saved is not None,  # False: the model already at model_path did better: kept
        "replaced": _replaced(saved),  # the scores of the model this run replaced there
        "parameters": model.num_parameters(),
        "seconds": time.perf_counter() - started,
    }
    result.update({f"test_{name}": scores[name] for name in metrics_for(data.task)})
    if history.stop_reason == "diverged":  # and --early-stopping kept an earlier epoch
        result["diverged_epoch"] = history.stopped_epoch + 1
    for kind, key in (("grad_norm", "grad_norms"), ("dead_units", "dead_units")):
        layers = per_layer(history.history, kind).items()  # the kept epoch's value per layer
        result[key] = {layer: _finite(values[kept]) for layer, values in layers}
    if args.plot and may_write():  # rank 0 only, under mpiexec
        from ..plot import plot_gradient_norms, plot_history

        curves = Path(args.plot)
        gradients = gradients_figure(curves)
        plot_history(history, curves)
        plot_gradient_norms(history, gradients)
        result["figures"] = [str(curves), str(gradients)]
    if args.json:
        emit_json(result)
    else:
        held_out = ", ".join(f"{k} {format_figure(v)}" for k, v in scores.items())
        units = " (in the targets' units)" if data.task == "regression" else ""
        print(f"held-out: {held_out}{units}")
        if saved and saved.replaced:
            print(f"model saved to {saved_to}, replacing the model there (held-out "
                  f"{scores_text(saved.replaced)}; this run's {scores_text(scored)})")  # fmt: skip
        elif saved:
            print(f"model saved to {saved_to}")
    if shared is not None:  # every rank is done with the rows (collective)
        shared.free()
    return 0 if saved_to == output else KEPT_BETTER_MODEL  # (none saved, or beside it)


def _classes(names: list[str], shown: int = 6) -> str:
    """``", 3 classes (cat, dog, fox)"``: a classifier's classes for the info line (the first
    ``shown`` of more, then "..."), so a label column read wrong shows at once."""
    return f", {len(names)} classes ({_listed(names, shown)})" if names else ""


def _features(count: int, names: tuple[str, ...], shown: int = 8) -> str:
    """``"3 features (a, b, c)"``: the feature columns for the info line, by name where the file
    has a header, so a column that is no feature (an id, a weight) shows at once."""
    features = f"{count} feature{'' if count == 1 else 's'}"
    return features + (f" ({_listed(names, shown)})" if names else "")


def _listed(names, shown: int) -> str:
    return ", ".join(names[:shown]) + (", ..." if len(names) > shown else "")


def _fit_losses(scoring, model, loss_fn, data, y_train, history, kept, validation_split) -> dict:
    """``train_loss`` and ``val_loss`` for the results: a classifier's from the History (the
    kept epoch's); a regression's in the targets' own units, like its test scores: the saved
    model's loss (``scoring``'s) on the training rows and the validation rows (the last, as ``fit``
    held them), since the History of z-scored targets is in standardised units.  Either way the
    training rows' loss is weighted by the weight column, as ``fit``'s; the validation rows' is
    not."""
    if data.task != "regression":
        val = history.history["val_loss"][kept] if validation_split else None
        return {"train_loss": _finite(history["loss"][kept]), "val_loss": _finite(val)}
    held = validation_rows(len(y_train), validation_split) if validation_split else 0
    fitted = len(y_train) - held

    def loss(rows: slice, weights: np.ndarray | None = None) -> float | None:
        x, y = data.x_train[rows], y_train[rows]
        return _finite(scoring(model, loss_fn, x, y, sample_weight=weights)["loss"])

    fitting = slice(0, fitted)
    return {
        "train_loss": loss(fitting, None if data.w_train is None else data.w_train[fitting]),
        "val_loss": loss(slice(fitted, None)) if held else None,
    }


def _validation_split(fraction: float | None, rows: int) -> tuple[float, str]:
    """The fraction of the training rows held back for validation, and a note when the default
    is dropped: a set too small to spare a row at its share (XOR's 4 rows: 0.4 of a row) trains
    on them all."""
    chosen = DEFAULT_VALIDATION_SPLIT if fraction is None else fraction
    if not chosen:
        return 0.0, ""
    if fraction is None and rows * chosen < 1:
        return 0.0, f", no validation rows ({rows} training rows are too few)"
    validation_rows(rows, chosen, option="--validation-split")  # as fit will hold them
    return chosen, ""


def _fit(args, model, loss_fn, optimizer, data, y_train, validation_split, stopping):
    """``fit`` with the command's options and a :class:`~nudgenet.TerminateOnDivergence` guard;
    returns the History.

    A run that diverged (``history.stop_reason == "diverged"``: the training loss became NaN or
    infinite, or ran away while finite) ends with one line naming the epoch and a smaller
    ``--lr``, and saves nothing, unless ``--early-stopping`` restored the weights of a best
    epoch from before the divergence: then a one-line note says so and those are saved.  So
    does a run whose model learnt nothing, predicting the same for every training row
    (:func:`~nudgenet.cli.baseline.learnt_nothing`: chance level, as the digits at
    ``--lr 1``).  No numpy warnings or Python warning lines on the way: the outcome is
    reported here, once, and fit's other warnings (validation rows lacking classes, more ranks
    than cores, ...) as one-line notes as they come, before training for most (not with -q)."""
    check_features_vary(data.x_train)
    guard = TerminateOnDivergence()  # first: it names the stop when another stops too
    class_weight = class_weight_for(args.class_weight, data)
    weights = in_units(data.w_train)[0]  # any scale; times class_weight's
    checkpoint = Checkpoint(args.checkpoint, restart=args.restart) if args.checkpoint else None
    if checkpoint is not None:
        checkpoint.restart_words = "--restart"  # its messages' advice, as this command spells it

    def above_the_bar(line: str) -> None:  # a line of its own, also while an epoch's bar is drawn
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)

    # with --json stdout holds the JSON alone: the epoch lines (fit prints them to stdout, as
    # Keras does) and the callbacks' lines go to stderr, so `train --json | jq` works
    lines = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with lines, np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", RuntimeWarning)  # the outcome is said once, below
        warnings.simplefilter("always", SharedMemoryWarning)  # (a note, not NumPy's)
        warnings.showwarning = warning_notes(  # (catch_warnings restores it)
            args,
            partial(_in_command_terms, early_stopping=args.early_stopping,
                    class_names=list(data.class_names or ())),  # fmt: skip
            above_the_bar,
        )
        history = fit(
            model, loss_fn, optimizer, data.x_train, y_train, epochs=args.epochs,
            batch_size=args.batch_size, validation_split=validation_split, seed=args.seed,
            metrics=metrics_for(data.task),
            callbacks=[guard, *([stopping] if stopping else []), *log_callbacks(args, data)],
            verbose=0 if args.quiet else (2 if args.verbose else 1),
            diagnostics=True,  # per-layer grad_norm/<layer>, dead_units/<layer>: --plot, --json
            class_weight=class_weight,
            sample_weight=weights,
            checkpoint=checkpoint,
            distributed=args.distributed,  # under mpiexec (cli/mpi.py)
        )  # fmt: skip
    kept = _kept_epoch(history, stopping)
    diverged = history.stop_reason == "diverged"
    restored = stopping is not None and stopping.best_state is not None
    if diverged and not (restored and guard.healthy(kept) and _all_finite(model)):
        data_hint = "" if math.isfinite(guard.losses[-1]) else ", or check the data for NaN/inf"
        raise _failed("training diverged", history.stop_message or guard.message,
                      f"try a smaller --lr, e.g. {optimizer.lr / 10:g}{data_hint}")  # fmt: skip
    unlearnt = learnt_nothing(model, loss_fn, data.x_train, y_train, history, optimizer.lr,
                              validation_split, class_weight, weights)  # fmt: skip
    if unlearnt:  # at chance level (the kept weights: fit restored them)
        raise _failed(*unlearnt)
    if not diverged:
        return history
    epoch = history.stopped_epoch
    print(
        f"nudgenet: training diverged in epoch {epoch + 1} (training loss "
        f"{history['loss'][epoch]}); saving epoch {kept + 1}, the best val_loss, kept by "
        "--early-stopping",
        file=sys.stderr,
    )
    return history


def _failed(what: str, message: str, hint: str) -> NudgenetError:
    """The error of a run that saves nothing: what went wrong, and what to try."""
    return NudgenetError(f"{what}: {message}; no model saved ({hint})")


def _in_command_terms(message: Warning, early_stopping: int, class_names=()) -> str:
    """A warning of fit's as the command line's note: advice in its options' terms (its
    training rows are already a shuffled, stratified part, so rows short of a class are few;
    ``--early-stopping`` needs validation rows; ``--class-weight`` names classes by name)."""
    if isinstance(message, AbsentClassWeightWarning) and class_names:
        named = ", ".join(repr(class_names[k]) for k in message.classes)
        plural = len(message.classes) > 1
        return (f"--class-weight names class{'es' * plural} {named}, of which no training row "
                f"is left (the rows all went to the held-out or validation rows); a weight of no "
                "row changes nothing")  # fmt: skip
    if not isinstance(message, ValidationRowsWarning):
        return str(message)
    if early_stopping:
        return f"{message.problem}; a class has few rows: a larger --validation-split holds more"
    return f"{message.problem}; a class has few rows: --validation-split 0 trains on them all"


def _kept_epoch(history, stopping) -> int:
    """The epoch (from 0) whose weights the model ends with: the best one where
    ``--early-stopping`` restored it, else the last."""
    if stopping is not None and stopping.best_state is not None:
        return stopping.best_epoch
    return len(history) - 1


def _all_finite(model) -> bool:
    return all(np.isfinite(p.data).all() for p in model.parameters())


def _replaced(saved) -> dict | None:
    """The held-out score and loss of the model a run replaced at ``--output`` (None: none
    compared: a new file, or ``--overwrite``)."""
    old = saved and saved.replaced
    return old and {"metric": old.score_metric, "score": old.score, "loss": old.held_out_loss}


def _finite(value: float | None) -> float | None:
    """``value``, or None for NaN and infinities (which JSON does not have)."""
    return value if value is not None and math.isfinite(value) else None


def register(commands) -> None:
    """Add the ``train`` subcommand."""
    train = commands.add_parser(
        "train",
        help="train an MLP and save it",
        description="Train an MLP on a data set, report held-out scores, save the model. With no "
        "options: the bundled 8x8 digits, offline, in seconds.",
        epilog="A run that diverges (a training loss that becomes NaN or infinite, or runs away) "
        "or whose model learnt nothing (it predicts the same for every training row) saves no "
        "model: one line says why and what to try, exit code 1.",
    )
    add_train_options(train)
    train.set_defaults(run=under_mpi("train", run), distributed=False)
