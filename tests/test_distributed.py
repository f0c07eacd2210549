"""Data-parallel training over MPI (nudgenet.distributed): the scripts in tests/mpi run under a
real ``mpiexec`` (the mpi extra, which the test extra installs: a missing MPI fails these tests,
it never skips them), each with a time limit, several checks per launch."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

import nudgenet as ng
from nudgenet.cli import build_parser, main
from nudgenet.distributed import DistributedError, launcher
from nudgenet.distributed.shard import bounds

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "mpi"
LAUNCHER_VARIABLES = (
    "PMI_SIZE", "PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS",
    "WORLD_SIZE", "HOROVOD_SIZE",
)  # fmt: skip


def mpiexec() -> str:
    beside = Path(sys.executable).with_name("mpiexec")
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail('mpiexec not found: pip install -e ".[test]" installs the mpi extra (mpich)')
    return found


def environment(env=None) -> dict:
    """This process's environment without a launcher's variables, with the variables ``env``
    added and this checkout's ``src`` first on the path."""
    found = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    found = {**found, **(env or {})}
    found["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), found.get("PYTHONPATH", "")])
    return found


SHARED_MEMORY = Path("/dev/shm")


def run_job(command: list[str], **options) -> subprocess.CompletedProcess:
    """``subprocess.run(command)`` of an MPI job, then its leftovers removed: MPICH leaves a
    2 MiB ``/dev/shm/mpich_shm_*`` file behind each aborted job (README), which would fill a
    small ``/dev/shm`` (Docker's 64 MiB) over the suite's aborting cases.  Only files that
    appeared meanwhile and that no process maps any more are removed."""
    before = set(SHARED_MEMORY.glob("mpich_shm_*"))
    try:
        return subprocess.run(command, capture_output=True, text=True, **options)
    finally:
        left = {path for path in set(SHARED_MEMORY.glob("mpich_shm_*")) - before if _mine(path)}
        deadline = time.monotonic() + 3  # a killed job's ranks may outlive mpiexec a moment
        while left and time.monotonic() < deadline:
            for path in left - _mapped():
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            left = {path for path in left if path.exists()}
            time.sleep(0.05 if left else 0)


def _mine(path: Path) -> bool:
    """Whether this user owns ``path`` (another's job may run beside the suite's)."""
    try:
        return path.stat().st_uid == os.getuid()
    except OSError:  # gone meanwhile
        return False


def _mapped() -> set[Path]:
    """The files some process maps now (other users' processes may not be readable)."""
    found = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            found.update(Path(line.split()[-1]) for line in maps.read_text().splitlines())
        except OSError:  # a process that ended meanwhile, or another user's
            pass
    return found


def launch(ranks: int, *command: str, timeout: float = 60, cwd=None, env=None):
    """``mpiexec -n ranks python command...`` (or ``-m``), with the variables ``env`` added to
    the environment (:func:`run_job`); the result and its seconds."""
    started = time.perf_counter()
    result = run_job(
        [mpiexec(), "-n", str(ranks), sys.executable, *command],
        timeout=timeout, env=environment(env), cwd=cwd,
    )  # fmt: skip
    return result, time.perf_counter() - started


def test_ranks_that_differ_are_refused_before_a_restart_deletes_the_checkpoints(tmp_path):
    folder = tmp_path / "ck"
    result, _ = launch(2, str(SCRIPTS / "refused_restart.py"), str(folder), "same", timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    saved = sorted(p.name for p in folder.glob("checkpoint-*"))
    result, _ = launch(2, str(SCRIPTS / "refused_restart.py"), str(folder), "other", timeout=60)
    assert result.returncode == 1 and "rank 1 runs another fit than rank 0" in result.stderr
    assert saved and sorted(p.name for p in folder.glob("checkpoint-*")) == saved


def test_in_a_world_of_one_rank_a_failed_fit_gives_the_rank_its_parameters_back(tmp_path):
    """``mpiexec -n 1``: an error in a distributed fit reaches the caller (nothing waits for the
    rank) and the parameters leave MPI's window; a fit given the DataParallel its own fit runs
    in (from a callback) is refused, the outer fit's parameters released too."""
    out = tmp_path / "results.json"
    result, _ = launch(1, str(SCRIPTS / "one_rank.py"), str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["callback error"] == {
        "error": "ValueError: a bug in my callback", "own_memory": True, "fitting": False
    }
    nested = found["nested fit"]
    assert nested["error"].startswith("DistributedError: this DataParallel already runs a fit")
    assert nested["own_memory"] and not nested["fitting"]
    assert found["after"] == {"epochs": 2, "own_memory": True}
    assert found["release fails"] == "ValueError: a bug in my callback"


@pytest.mark.parametrize(
    ("ranks", "nodes", "reduction"),
    [
        (1, None, "node shared memory"),
        (2, None, "node shared memory"),
        (3, None, "node shared memory"),
        (2, 2, "node shared memory"),  # one rank per machine: the parts' Allreduce across nodes
        (4, 2, "node shared memory"),  # two machines of two: shared memory, then across
        (3, 2, "Allreduce"),  # machines of 2 and 1 rank: the whole buffer's Allreduce
    ],
)
def test_n_ranks_train_as_one_process_does(ranks, nodes, reduction, tmp_path):
    out = tmp_path / "results.json"
    simulated = [] if nodes is None else [str(nodes)]
    result, _ = launch(ranks, str(SCRIPTS / "equivalence.py"), str(out), str(tmp_path), *simulated)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["reduction"] == found["several_pieces_reduction"] == reduction
    assert found["writing_callback_reduction"] == "Allreduce"
    lacking = found["no_shared_memory"]
    assert lacking["reduction"] == "Allreduce"
    if reduction != "Allreduce":  # the machine had room for no window: rank 0 says so, once
        assert len(lacking["warned"][0]) == 1 and "docker run --shm-size" in lacking["warned"][0][0]
        assert not any(lacking["warned"][1:])
    assert found["own_step_reduction"] == "Allreduce"
    after = found["after"]
    assert after["gradient_error"] <= (0 if ranks == 1 else 1e-12)
    assert all(after["own_parameters"]) and all(after["own_state"])
    assert after["same_parameters_before"]
    assert after["arrays_kept"] == [[True, True]] * ranks, "arrays taken before fit are live"
    assert found["ranks"] == ranks
    assert found["rank_and_size"] == [[rank, ranks] for rank in range(ranks)]
    for name, case in found["cases"].items():
        tolerance = 1e-4 if "float32" in name else 1e-12  # the bound for f64: 1e-6
        if ranks == 1:  # one rank: plain fit's arithmetic exactly
            tolerance = 0
        assert case["param_error"] <= tolerance, (name, case["param_error"])
        assert max(case["history_error"].values()) <= tolerance, (name, case["history_error"])
        assert case["same_history_on_every_rank"], name
        assert case["epochs"][0] == case["epochs"][1], name
    assert found["cases"]["stop-on-the-last-rank"]["epochs"] == [2, 2]
    val = found["cases"]["adam-float64-val"]["keys"]
    assert {"loss", "accuracy", "f1_macro", "val_loss", "val_accuracy", "val_f1_macro"} <= set(val)
    tiny = found["cases"]["regression-tiny-batches"]["keys"]
    assert {"val_r2", "val_mae", "r2", "grad_norm/0", "dead_units/1"} <= set(tiny)
    assert "grad_norm/0" in found["cases"]["clip-sum-loss"]["keys"], "before clipping, as 1 process"
    dropout = found["dropout"]
    assert all(dropout["repeatable"]) and dropout["same_parameters_on_every_rank"]
    assert dropout["streams_differ"]
    saved = found["checkpoint"]
    assert all(saved["may_write"][0]) and not any(w for r in saved["may_write"][1:] for w in r)
    assert all(saved["may_write_after"]), "fit restores may_write"
    assert "checkpoint-000001-0000005.safetensors" in saved["files"]  # mid-epoch, by rank 0 alone
    assert all(saved["resumed_equals_uninterrupted"])
    resumed_metrics = found["metrics_resumed_equal_uninterrupted"]
    assert all(len(r) == 4 and all(r) for r in resumed_metrics), resumed_metrics  # bit for bit
    assert all(found["dropout_resumed_equals_uninterrupted"]), "even shares: bit for bit"
    assert all(found["stop_resumed"]), "a stop set mid-epoch on the last rank is in the checkpoint"
    assert found["last_run"]["allreduce_calls"] == 4 * 7  # one per step: 4 epochs of 7 batches
    assert found["last_run"]["allreduce_bytes"] == 8 * (83 + 1)  # every gradient and the loss
    assert found["last_run"]["ranks"] == ranks
    assert all(found["blas_threads"]), "BLAS threads: the cores shared among the ranks"
    assert result.stdout.count("Epoch 2/2") == 1, "only rank 0 prints progress"
    assert result.stdout.count("ReduceLROnPlateau reducing") == 1, "and callbacks' lines"
    assert found["log_files"] == ["log-0.csv", "tb-0"], "CSVLogger, TensorBoard: rank 0 writes"
    assert {"sparse-x", "sparse-x-engine", "class-weighted-loss-rows"} <= set(found["cases"])
    assert {"freeze-then-unfreeze", "freeze-then-unfreeze-engine"} <= set(found["cases"])
    stopped = found["cases"]["early-stopping"]
    assert stopped["epochs"][0] < 20 and stopped["lr_changed"], "the callbacks acted"


def test_a_data_parallel_made_by_hand_runs_as_distributed_true(tmp_path):
    """``fit(distributed=DataParallel(comm))``: the same run as distributed=True, rank 0 alone
    printing and writing, last_run() filled, each rank's parameters its own again afterwards
    (rank 0 zeroing its weights leaves rank 1's alone); seed=None refused: see the fault cases."""
    out = tmp_path / "results.json"
    result, _ = launch(2, str(SCRIPTS / "by_hand.py"), str(out), str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["same_as_distributed_true"] == [True, True]
    assert found["rank_1_unchanged"], "the parameters stayed in the node's shared memory"
    assert found["may_write"] == [[True, True], [False, False]]
    assert result.stdout.count("Epoch 2/2") == 2, "rank 0 prints, once per fit"
    assert found["last_run"]["ranks"] == 2 and found["last_run"]["allreduce_calls"] == 2 * 7
    assert any(name.startswith("checkpoint-") for name in found["files"])


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("bad-data", 1, "rank 1 of 2: ValueError: CrossEntropyLoss: labels must be in [0, 2]"),
        ("memory", 1, "rank 1 of 2: out of memory (MemoryError)"),
        ("interrupt", 130, "rank 0 of 2: interrupted (KeyboardInterrupt)"),
        ("sigint", 130, "rank 1 of 2: interrupted (KeyboardInterrupt)"),
        ("kill", None, ""),  # the launcher's code for a killed rank (Hydra: 9)
        ("exit-in-fit", 1, "rank 1 of 2: left fit(distributed=True) with sys.exit(0) while the"),
        ("model", 1, "rank 1 runs another fit than rank 0: parameters[0][0][1] 9 there, 8 on"),
        ("data", 1, 'rank 1 runs another fit than rank 0: x "(399, 5) float32" there, "(400, 5)'),
        ("options", 1, "rank 1 runs another fit than rank 0: batch_size 64 there, 32 on rank 0"),
        # an argument error on one rank only: it ends the job (rank 0 went on to compare)
        ("bad-batch-size", 1, "rank 1 of 2: ValueError: fit: expected epochs >= 0 and batch_si"),
        ("activation", 1, "rank 1 runs another fit than rank 0: architecture"),
        ("data-values", 1, "rank 1 runs another fit than rank 0: x (CRC-32 of 16 rows) "),
        ("batchnorm", 1, "the model holds a BatchNorm1d, which normalises by the statistics"),
        ("no-seed", 1, "fit(distributed=True) needs seed= (an int)"),
        ("by-hand-no-seed", 1, "DistributedError: fit(distributed=True) needs seed= (an int)"),
        ("uncaught", 1, "rank 1 of 2: FileNotFoundError: data.npz"),  # after Python's report
        ("by-hand-uncaught", 1, "rank 1 of 2: FileNotFoundError: data.npz"),
        ("by-hand-self-uncaught", 1, "rank 1 of 2: FileNotFoundError: data.npz"),
        ("lr-on-rank-0", 1, "rank 1 runs another fit (its optimiser's settings and frozen "
                            "parameters after epoch 1) than rank 0: optimizer.lr 0.1 there, "
                            "0.05 on rank 0 (every rank"),
        # refused before any step of the epoch whose settings differ (it was after that epoch)
        ("lr-at-begin-on-rank-0", 1, "rank 1 runs another fit (its optimiser's settings and "
                                     "frozen parameters as epoch 2 begins) than rank 0: "
                                     "optimizer.lr 0.1 there, 0.05"),
        # a parameter frozen on some ranks only: the Allreduce's ranks' models parted, silently
        ("freeze-on-rank-0", 1, 'parameters as epoch 2 begins) than rank 0: frozen "none" '
                                'there, "0.weight, 0.bias" on rank 0'),
        ("checkpoint-on-rank-0", 1, 'another fit than rank 0: checkpoint "none" there, {"every_'),
        ("checkpoint-path-on-rank-0", 1, "rank 0 of 2: TypeError: fit: checkpoint must be a Che"),
        ("sample-weight", 1, 'sample_weight "(400,) float64" there, "absent" on rank 0'),
        ("seed", 1, "rank 1 runs another fit than rank 0: seed 1 there, 0 on rank 0"),
        # the option that differs, not the data it derives (x's shape or checksum, weights)
        ("validation-split", 1, "another fit than rank 0: validation_split 0.2 there, 0.0 on"),
        ("split-mode", 1, 'than rank 0: validation_split_mode "shuffle" there, "last" on rank 0'),
        ("class-weight", 1, 'another fit than rank 0: class_weight {"0": 2.0} there, null on'),
        # a callback's settings, named down to the one that differs
        ("callback-settings", 1, "another fit than rank 0: callbacks[1].factor 0.2 there, 0.5 on"),
        # a rank that leaves normally: the others' stall line, then the shutdown they asked for
        ("leaves", 1, "rank 0 of 2: DistributedError: waited 3 s at the start of fit(distri"),
        ("second-fit-alone", 1, "rank 0 of 2: DistributedError: waited 3 s at the start of"),
        # the script's own code in guard(): its traceback too; sys.exit(n) ends the job with n
        ("guard-error", 1, "rank 1 of 2: FileNotFoundError: [Errno 2] No such file or directory"),
        ("guard-exit", 3, "rank 1 of 2: exited with code 3 (sys.exit)"),
        ("guard-exit-message", 1, "rank 1 of 2: exited with code 1: bad config (sys.exit)"),
    ],
)
def test_a_failing_rank_ends_every_rank(case, code, message):
    """Within seconds (the script would train 50 epochs), non-zero, the failing rank's line,
    after Python's report of the error written with it (not for sys.exit, which Python does not
    report, nor Ctrl-C, which reaches every rank): the file and line that failed, from the
    script's top."""
    stall = {"NUDGENET_STALL_WARNING_SECONDS": "1", "NUDGENET_STALL_SHUTDOWN_SECONDS": "3"}
    result, seconds = launch(2, str(SCRIPTS / "faults.py"), case, timeout=30, env=stall)
    assert result.returncode == code if code else result.returncode != 0, result.stderr[-2000:]
    assert "finished" not in result.stdout
    assert message in result.stderr
    reported = case not in ("interrupt", "sigint", "kill", "exit-in-fit", "guard-exit",
                            "guard-exit-message")
    assert ("Traceback (most recent call last):" in result.stderr) == reported, result.stderr
    if reported:  # from the script's top; the error's own line, then ours (one write)
        lines = result.stderr[result.stderr.index("Traceback (most recent call last):") :]
        lines = lines.splitlines()
        assert lines[1].startswith(f'  File "{SCRIPTS / "faults.py"}", line '), lines[:3]
        ours = next(i for i, line in enumerate(lines) if line.startswith("nudgenet: rank"))
        assert message in lines[ours] and not lines[ours - 1].startswith(" "), lines[: ours + 1]
        handling = ("in abort_on_error", "gen.throw(")  # frames of our catching it: left out
        assert not any(frame in line for frame in handling for line in lines[:ours])
    assert seconds < 20
    lines = [line for line in result.stderr.splitlines() if "nudgenet: rank" in line]
    assert all(line.startswith("nudgenet: rank") for line in lines), "one line each, not cut"
    if case in ("batchnorm", "no-seed", "by-hand-no-seed"):  # every rank's alike: said once
        assert len(lines) == 1 and lines[0].startswith("nudgenet: rank 0 of 2"), result.stderr
        assert result.stderr.count("Traceback (most recent call last):") == 1
    if case in ("leaves", "second-fit-alone"):
        assert "rank 0 of 2: waited 1 s at the start of fit(distributed=True)" in result.stderr
        assert "still waiting (NUDGENET_STALL_SHUTDOWN_SECONDS=<seconds> ends the job)" in (
            result.stderr
        )


@pytest.mark.parametrize("ranks", [2, 3])
def test_an_error_every_rank_s_checks_raise_alike_reaches_the_script(ranks, tmp_path):
    """A script's try/except around a distributed fit or evaluate works under mpiexec as alone:
    an argument error every rank raises alike before any collective (a sweep's batch_size=0, a
    refused BatchNorm1d) passes to the caller on every rank (it aborted the job), one naming a
    function by its repr too (whose address differs by rank: it aborted); the script then
    trains and scores as usual."""
    out = tmp_path / "caught"
    result, _ = launch(ranks, str(SCRIPTS / "caught.py"), str(out), timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "nudgenet: rank" not in result.stderr and "Traceback" not in result.stderr
    found = [(tmp_path / f"caught.{rank}").read_text() for rank in range(ranks)]
    assert found == [found[0]] * ranks
    assert found[0].splitlines()[-1].startswith("then trained 2 epochs, loss ")
    assert found[0].splitlines()[:-1] == [
        "batch_size=0: caught ValueError: fit: expected epochs >= 0 and batch_size >= 1, got 1 "
        "and 0",
        "drop_last: caught ValueError: fit: drop_last with batch_size=128 > 100 rows leaves no "
        "batch",
        "seed=None: caught DistributedError: fit(distributed=True) needs seed= (an int): every "
        "rank draws the same row order from it (None would draw from the global generator, "
        "which is each rank's own)",
        "BatchNorm1d: caught DistributedError: fit(distributed=True): the model holds a "
        "BatchNorm1d, which normalises by the statistics of each rank's share of the batch, not "
        "of the global batch; data-parallel training refuses it (LayerNorm normalises each row "
        "alone)",
        "metrics=[function]: caught ValueError: unknown metric <function my_accuracy at 0x...>; "
        "expected one of ['accuracy', 'f1', 'f1_macro', 'f1_micro', 'f1_weighted', 'mae', 'mse', "
        "'precision', 'precision_macro', 'precision_micro', 'precision_weighted', 'r2', 'recall', "
        "'recall_macro', 'recall_micro', 'recall_weighted', 'rmse', 'roc_auc']",
        "evaluate rows: caught ShapeError: x: inputs have 100 rows but targets have 99 rows "
        "(shape (99,))",
        "evaluate batch_size=0: caught ValueError: expected batch_size >= 1, got 0",
    ]


def test_mpi4py_s_runner_ends_the_job_on_a_non_zero_exit_outside_guard():
    """``sys.exit(3)`` on rank 1 after joining MPI, outside guard: Python calls no hook for it,
    so rank 0 waits at the start of fit (here until the stall shutdown); started through
    ``python -m mpi4py`` (as the README says), the job ends at once with code 3."""
    stall = {"NUDGENET_STALL_WARNING_SECONDS": "1", "NUDGENET_STALL_SHUTDOWN_SECONDS": "4"}
    script = str(SCRIPTS / "faults.py")
    plain, _ = launch(2, script, "exit-outside", timeout=30, env=stall)
    assert plain.returncode == 1, plain.stderr[-2000:]
    assert "rank 0 of 2: DistributedError: waited 4 s at the start of fit" in plain.stderr
    runner, _ = launch(2, "-m", "mpi4py", script, "exit-outside", timeout=30, env=stall)
    assert runner.returncode == 3, runner.stderr[-2000:]
    assert "waited" not in runner.stderr, "ended before rank 0's stall line (1 s)"
    assert "finished" not in runner.stdout


def test_a_slow_rank_is_waited_for_with_one_line_and_no_busy_wait():
    """Rank 1 starts fit 2.5 s after rank 0: rank 0 says it waits after 1 s, then both train;
    while waiting it sleeps between looks rather than spinning a core."""
    result, seconds = launch(
        2, str(SCRIPTS / "faults.py"), "slow", timeout=60,
        env={"NUDGENET_STALL_WARNING_SECONDS": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("trained 2 epochs") == 2
    assert result.stderr.count("waited 1 s at the start of fit(distributed=True)") == 1
    assert "rank 0 of 2: waited" in result.stderr
    cpu, wall = (float(v) for v in result.stdout.split("rank 0 fit cpu")[1].split()[:2])
    assert wall > 2 and cpu < wall - 1.5, (cpu, wall)  # the 2.5 s of waiting did not spin


class FakeComm:
    """A communicator of ``size`` ranks whose Abort raises Aborted (instead of ending pytest)."""

    class Aborted(BaseException):
        pass

    def __init__(self, size, rank=1):
        self.size, self.rank = size, rank

    def Get_size(self):
        return self.size

    def Get_rank(self):
        return self.rank

    def Abort(self, code):
        raise FakeComm.Aborted(code)


def test_guard_without_a_launcher_lets_everything_pass_and_needs_no_mpi(no_launcher, monkeypatch):
    """A script run alone (``python script.py``): guard() is as if absent, even without mpi4py."""
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    with pytest.raises(ValueError, match="bad data file"):
        with ng.distributed.guard():
            raise ValueError("bad data file")
    with pytest.raises(SystemExit) as exited:
        with ng.distributed.guard():
            sys.exit(3)
    assert exited.value.code == 3


def test_in_a_world_of_one_rank_an_error_passes(monkeypatch):
    """Nothing waits for the only rank: the exception goes on as without abort_on_error."""
    from nudgenet.distributed.faults import abort_on_error

    for error in (ValueError("bad"), SystemExit(3), SystemExit(0), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with abort_on_error(FakeComm(1, rank=0), exit_line="left"):
                raise error


def test_the_start_handshake_lets_pass_only_a_check_s_error_every_rank_raised_alike():
    """Before open() (the rendezvous) and after the exchange (training) nothing passes; nor do
    Ctrl-C, MemoryError and sys.exit; an error passes when every rank's line is the same."""
    from nudgenet.distributed.faults import Handshake

    class Gathering(FakeComm):
        def __init__(self, others):
            super().__init__(len(others) + 1)
            self.others, self.sent = others, []

        def allgather(self, line):
            self.sent.append(line)
            return [line, *self.others]

    error = ValueError("fit: expected epochs >= 0 and batch_size >= 1, got 1 and 0")
    line = ("builtins.ValueError",
            "ValueError: fit: expected epochs >= 0 and batch_size >= 1, got 1 and 0")  # fmt: skip
    for others, alike in (([line, line], True), ([line, None], False),
                          ([("builtins.KeyError", "KeyError: x")], False)):  # fmt: skip
        handshake = Handshake(comm := Gathering(others))
        assert not handshake.failed_alike(error) and comm.sent == []  # not yet open
        handshake.open()
        assert handshake.failed_alike(error) == alike and comm.sent == [line]
        assert not handshake.failed_alike(error) and len(comm.sent) == 1  # exchanged once
    # a repr's address differs by rank (it aborted); a type of the same name from elsewhere does
    # not pass as the same error
    named = ValueError("unknown metric <function my_acc at 0x7f9c77714720>")
    said = ("builtins.ValueError", "ValueError: unknown metric <function my_acc>")
    for others, alike in (([said], True), ([("mine.ValueError", said[1])], False)):
        handshake = Handshake(comm := Gathering(others))
        handshake.open()
        assert handshake.failed_alike(named) == alike and comm.sent == [said]
    for unsaid in (KeyboardInterrupt(), MemoryError(), SystemExit(2)):
        handshake = Handshake(comm := Gathering([None]))
        handshake.open()
        assert not handshake.failed_alike(unsaid) and comm.sent == []
    handshake = Handshake(comm := Gathering([line]))
    handshake.open()
    handshake.agree()  # this rank's checks passed: "ok" said, errors from now on abort
    assert comm.sent == [None] and not handshake.failed_alike(error)


def _failing_callback():
    raise KeyError("val_accuracy")


def test_an_aborting_rank_writes_the_traceback_then_its_line_at_once(monkeypatch):
    """Python's report as if nothing had caught the error (from this function's frame, without
    the frames that caught it) and the line naming the rank, in one write; Ctrl-C and sys.exit
    get their line alone (Python prints no traceback for sys.exit, and Ctrl-C interrupts every
    rank at once); so do the types given as ``one_line``."""
    from nudgenet.distributed import faults

    monkeypatch.setattr(faults, "_FORWARDED", 0.0)
    monkeypatch.setattr(faults, "_DEFERRED", 0.0)  # rank 1's one-line mistakes wait for rank 0
    monkeypatch.setattr(os, "_exit", lambda code: None)
    writes = []
    stream = type("Stream", (), {"write": lambda self, text: writes.append(text),
                                 "flush": lambda self: None})  # fmt: skip
    monkeypatch.setattr(sys, "__stderr__", stream())
    with pytest.raises(FakeComm.Aborted) as aborted:
        with faults.abort_on_error(FakeComm(2)):
            _failing_callback()
    assert aborted.value.args == (1,) and len(writes) == 1
    lines = writes[0].splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert sum("in test_an_aborting_rank_writes_the_traceback" in line for line in lines) == 1
    assert "in _failing_callback" in lines[-4] and "raise KeyError" in lines[-3]
    ours = "nudgenet: rank 1 of 2: "
    assert lines[-2:] == ["KeyError: 'val_accuracy'", ours + "KeyError: val_accuracy"]
    assert not any("abort_on_error" in line or "contextlib" in line for line in lines)
    cases = [
        (SystemExit(3), (), 3, "exited with code 3 (sys.exit)"),
        (SystemExit("bad config"), (), 1, "exited with code 1: bad config (sys.exit)"),
        (SystemExit(256), (), 1, "exited with code 1 (sys.exit)"),
        (SystemExit(""), (), 1, "exited with code 1 (sys.exit)"),  # a blank message
        (SystemExit(" \n"), (), 1, "exited with code 1 (sys.exit)"),
        (KeyboardInterrupt(), (), 130, "interrupted (KeyboardInterrupt)"),
        (ValueError("bad"), (ValueError,), 1, "ValueError: bad"),
    ]
    for error, one_line, code, said in cases:
        writes.clear()
        with pytest.raises(FakeComm.Aborted) as aborted:
            with faults.abort_on_error(FakeComm(1), one_line=one_line):  # passes Aborted on
                with faults.abort_on_error(FakeComm(2)):  # one_line holds within, as in fit's
                    raise error
        assert aborted.value.args == (code,) and writes == [f"{ours}{said}\n"], (error, writes)


@pytest.mark.parametrize(
    ("affinities", "threads"),
    [
        ([set(range(32))] * 8, [4] * 8),  # 8 unbound ranks on 32 cores (Hydra's default)
        ([set(range(4 * r, 4 * r + 4)) for r in range(8)], [4] * 8),  # srun --cpus-per-task=4
        ([{0, 1}, {0, 1}], [1, 1]),  # 2 ranks on this machine's 2 cores
        ([{0}, {1}], [1, 1]),  # each bound to one core
        ([{0, 1}] * 3, [1, 1, 1]),  # more ranks than cores: 1 each still
        ([{0}, set(range(8))], [1, 4]),  # one rank bound to a core: no more threads than cores
    ],
)
def test_blas_threads_share_the_node_ranks_cores_at_most_a_rank_s_own(affinities, threads):
    """The cores of the machine's ranks together, divided among them, at most a rank's own: a
    launcher that bound each rank to cores of its own already divided them (they used to be
    divided again: 4 cores each of 32 by 8 ranks gave 1 thread)."""
    from nudgenet.distributed.threads import threads_per_rank

    assert [threads_per_rank(affinities, mine) for mine in affinities] == threads


def test_more_ranks_than_a_machine_s_cores_are_warned_about():
    """3 ranks on 2 cores ran a spirals fit 6.6 times slower than one process, silently."""
    from nudgenet.distributed.threads import oversubscribed

    assert oversubscribed([{0, 1}] * 3) == (
        "fit(distributed=True): 3 ranks on this machine share 2 cores: a rank waits for a core "
        "and every step for the slowest rank, so this trains slower than 2 ranks there would"
    )
    assert "4 ranks on this machine share 1 core:" in oversubscribed([{0}] * 4)
    for fitting in ([{0, 1}] * 2, [{0}, {1}], [set(range(32))] * 8, [{0}, {1, 2}, {1, 2}]):
        assert oversubscribed(fitting) is None


def test_blas_threads_under_mpiexec_unbound_bound_and_on_cores_of_their_own(tmp_path):
    out = tmp_path / "threads.json"
    two = {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}  # else a rule of 1 passes too
    result, _ = launch(2, str(SCRIPTS / "threads.py"), str(out), env=two)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(out.read_text())
    before = found["before"]
    assert min(before) >= 2, f"BLAS started at {before} threads: 2 are needed to tell the rules"
    assert found["unbound"] == [[max(1, min(len(found["machine"]) // 2, n)) for n in before]] * 2
    assert found["own cores"] == [[min(2, n) for n in before]] * 2, "2 of their own, not 2 // 2"
    assert found["bound"] == [[1] * len(before)] * 2


def test_a_stall_setting_that_is_not_seconds_is_a_clear_error(monkeypatch):
    from nudgenet.distributed.faults import STALL_SHUTDOWN, rendezvous

    monkeypatch.setenv(STALL_SHUTDOWN, "soon")
    with pytest.raises(DistributedError, match="NUDGENET_STALL_SHUTDOWN_SECONDS: expected "
                       r"seconds \(a number >= 0\), got 'soon'"):  # fmt: skip
        rendezvous(None, "fit(distributed=True)")


CLASSIFIER_SCORES = ("test_loss", "train_loss", "val_loss", "test_accuracy")


@pytest.mark.parametrize(("dataset", "scores", "dtype", "rel"), [
    ("digits", CLASSIFIER_SCORES, "float32", 1e-4),
    ("digits", CLASSIFIER_SCORES, "float64", 1e-10),  # the rounding of another order only
    ("black-scholes", ("test_loss", "train_loss", "val_loss", "test_rmse", "test_mae"), "float32",
     1e-4),
])  # fmt: skip
def test_nudgenet_train_under_mpiexec_is_one_data_parallel_run(dataset, scores, dtype, rel,
                                                               tmp_path):  # fmt: skip
    """The same run and scores as one process (a regression's losses, in the targets' units,
    are the saved model's, scored after training as the test rows are, a share a rank)."""
    command = ["-m", "nudgenet", "train", "--dataset", dataset, "--epochs", "2", "--json",
               "-o", "model.safetensors", "--dtype", dtype]  # fmt: skip
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    alone = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=60,
        cwd=tmp_path / "one", env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip
    result, _ = launch(2, *command, "--plot", "curves.png", cwd=tmp_path / "two")
    assert alone.returncode == 0 and result.returncode == 0, result.stderr[-2000:]
    # only rank 0 prints; with --json the epoch lines go to stderr, the JSON alone to stdout
    assert result.stderr.count("Epoch 2/2") == alone.stderr.count("Epoch 2/2") == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("{"), "one JSON result: rank 0's"
    ours, theirs = json.loads(lines[0]), json.loads(alone.stdout.splitlines()[-1])
    for key in scores:
        assert ours[key] == pytest.approx(theirs[key], rel=rel), key
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "curves-gradients.png", "curves.png", "model.safetensors",
    ]  # fmt: skip


@pytest.mark.parametrize("ranks", [2, 3])
def test_evaluate_distributed_scores_each_row_once_as_one_process_does(ranks, tmp_path):
    out = tmp_path / "found.json"
    result, _ = launch(ranks, str(SCRIPTS / "evaluate.py"), str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    shares = [stop - start for start, stop in (bounds(1001, r, ranks) for r in range(ranks))]
    for name, case in json.loads(out.read_text()).items():
        checked = name != "function-loss"  # a loss object's targets are checked on one row
        assert case["rows"] == [rows + checked for rows in shares], f"{name}: each row once"
        assert case["together"].keys() == case["alone"].keys()
        for key, value in case["alone"].items():
            assert case["together"][key] == pytest.approx(value, rel=1e-12), (name, key)


@pytest.mark.parametrize(("mode", "message"), [
    ("other-rows", "rank 1 runs another evaluate than rank 0: x (CRC-32 of 16 rows)"),
    ("other-weights", "rank 1 runs another evaluate than rank 0: weights (CRC-32) "),
    ("bad-labels", "rank 1 of 2: ValueError: CrossEntropyLoss: labels must be in [0, 2]"),
    ("alone", "waited 2 s at the start of evaluate(distributed=True) for the other ranks"),
    ("exit", "rank 1 of 2: left evaluate(distributed=True) with sys.exit(0) while the other"),
    ("crossed", "rank 0 starts evaluate(distributed=True) where rank 1 starts "
                "fit(distributed=True): every rank must make the same distributed calls"),
])  # fmt: skip
def test_evaluate_distributed_refuses_or_ends_ranks_that_differ(mode, message, tmp_path):
    """Ranks with other rows or weights are refused at the start (the scores would mix); an
    error on one rank ends them all (sys.exit(0) too, named as leaving evaluate: it was called
    leaving fit); one rank calling it alone ends by the stall check (it
    spun, silent, for ever); one rank starting the next fit instead is refused at once (the two
    calls' first barriers met, then their next collectives hung for ever)."""
    result, seconds = launch(2, str(SCRIPTS / "evaluate.py"), str(tmp_path / "f.json"), mode,
                             env={"NUDGENET_STALL_SHUTDOWN_SECONDS": "2"})  # fmt: skip
    assert result.returncode != 0 and seconds < 30
    assert message in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "f.json").exists()


def test_a_data_parallel_scoring_inside_its_own_fit_leaves_the_fit_alone(tmp_path):
    """evaluate(distributed=DataParallel) from a callback of that DataParallel's fit, of a
    summed loss: it used to halve every later step's gradient on 2 ranks."""
    out = tmp_path / "f.json"
    result, _ = launch(2, str(SCRIPTS / "evaluate.py"), str(out), "in-a-fit")
    assert result.returncode == 0, result.stderr[-3000:]
    together, alone = json.loads(out.read_text())["losses"]
    assert together == pytest.approx(alone, rel=1e-12)


def test_the_weights_the_ranks_compare_include_buffers():
    """evaluate(distributed=True) refuses ranks whose models differ: BatchNorm1d's running
    statistics (buffers, not parameters) count too."""
    from nudgenet.distributed.compared import parameters_checksum

    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.BatchNorm1d(4))
    before = parameters_checksum(model)
    model[1].running_mean[0] += 1.0
    assert parameters_checksum(model) != before


def test_evaluate_distributed_outside_a_launcher_warns_and_scores_alone(no_launcher):
    model = ng.Sequential(ng.Linear(3, 2, seed=0))
    x, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    with pytest.warns(RuntimeWarning, match=r"evaluate\(distributed=True\): not started by an "
                      "MPI launcher .* running in this one process"):  # fmt: skip
        together = ng.evaluate(model, ng.CrossEntropyLoss(), x, y, ["accuracy"], distributed=True)
    assert together == ng.evaluate(model, ng.CrossEntropyLoss(), x, y, ["accuracy"])


def test_nudgenet_train_under_mpiexec_holds_the_data_set_once_a_machine(tmp_path):
    """Each rank of ``mpiexec -n 2 nudgenet train`` used to hold the whole data set in its own
    memory; the machine's ranks now share one read-only copy, and train as one process does."""
    from nudgenet.distributed.shared_memory import has_room, shared_memory_free

    if not has_room(shared_memory_free(), 160 << 20):
        pytest.skip(f"/dev/shm has {shared_memory_free() >> 20} MiB free, 180 MiB are needed")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40_000, 1000)).astype(np.float32)  # 153 MiB
    ng.datasets.save_arrays(tmp_path / "big.npz", x=x, y=(x[:, 0] > x[:, 1]).astype(np.int64))
    (tmp_path / "two").mkdir()
    result, _ = launch(2, str(SCRIPTS / "shared_data.py"), "big.npz", "two", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        held = json.loads((tmp_path / "two" / f"rank-{rank}.json").read_text())
        assert held["shared"] == x.nbytes + 40_000 * 8, "x_train, x_test, y_train, y_test"
        assert held["Shared_Dirty"] + held["Shared_Clean"] >= x.nbytes, f"rank {rank}: {held}"
        private = held["Private_Dirty"] + held["Private_Clean"]
        assert private < x.nbytes / 2, f"rank {rank} holds {private / 2**20:.0f} MiB of its own"
    alone = subprocess.run(
        [sys.executable, "-m", "nudgenet", "train", "--dataset", "big.npz", "--epochs", "1",
         "--layers", "8", "--json", "-o", "one.safetensors"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=environment(),
    )  # fmt: skip
    assert alone.returncode == 0, alone.stderr[-2000:]
    ours = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][0])
    theirs = json.loads(alone.stdout.splitlines()[-1])
    for key in ("test_loss", "train_loss", "val_loss", "test_accuracy"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-4), key


def test_shared_arrays_lie_on_cache_lines_and_need_room_and_no_python_objects(monkeypatch):
    from nudgenet.distributed import shared_arrays

    arrays = {"x": np.zeros((3, 5), np.float32), "y": np.zeros(3, np.int64), "e": np.zeros(0)}
    layout, size = shared_arrays._layout(arrays, "the rows")
    assert layout == [("x", (3, 5), "<f4", 0, 60), ("y", (3,), "<i8", 64, 24),
                      ("e", (0,), "<f8", 128, 0)]  # fmt: skip
    assert size == 128
    monkeypatch.setattr(shared_arrays, "shared_memory_free", lambda: 130)  # under size + 1/8
    expected = "share the 0.000122 MiB of the rows: each rank holds its own copy"
    with pytest.warns(RuntimeWarning, match=f"has 0 MiB free where the ranks .* would {expected}"):
        assert shared_arrays._layout(arrays, "the rows") == (None, 0)
    monkeypatch.setattr(shared_arrays, "shared_memory_free", lambda: None)  # cannot be told
    assert shared_arrays._layout(arrays, "the rows")[1] == 128
    assert shared_arrays._layout({"names": np.array(["a"], object)}, "the rows") == (None, 0)


def test_without_room_in_dev_shm_each_rank_loads_its_own_copy(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 5)).astype(np.float32)
    ng.datasets.save_arrays(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    (tmp_path / "out").mkdir()
    result, _ = launch(2, str(SCRIPTS / "shared_data.py"), "d.npz", "out", "no-room", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    notes = [line for line in result.stderr.splitlines() if "MiB free" in line]
    assert len(notes) == 2, "rank 0 says each once, the others nothing: " + result.stderr[-2000:]
    assert notes[0].startswith("nudgenet: note: /dev/shm has 0 MiB free where the ranks of a "
                               "machine would share the")  # fmt: skip
    assert notes[0].endswith("each rank holds its own copy (give the machine or container more, "
                             "e.g. docker run --shm-size)")  # fmt: skip
    assert notes[1].startswith("nudgenet: note: fit(distributed=True): /dev/shm has 0 MiB free")
    assert "summing with Allreduce instead" in notes[1], "train's filter hid it"
    assert "RuntimeWarning" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.safetensors"]


@pytest.mark.parametrize(
    ("machines", "fetching"),
    [(None, ["rank-0.log"]),  # one machine: rank 0 alone
     ("shared", ["rank-0.log"]),  # two machines, one cache: the other finds rank 0's files
     ("separate", ["rank-0.log", "rank-1.log"])],  # a cache each: once a machine
)  # fmt: skip
def test_nudgenet_train_under_mpiexec_downloads_mnist_once(machines, fetching, tmp_path):
    """MNIST's files missing: rank 0 downloads them, then one rank of each other machine whose
    cache still lacks them, while the others wait; then every rank loads them from its cache
    (each rank fetched every file, at once)."""
    from nudgenet.data import save_idx

    rng = np.random.default_rng(0)
    (tmp_path / "server").mkdir()
    (tmp_path / "logs").mkdir()
    for prefix, rows in (("train", 60), ("t10k", 20)):
        save_idx(tmp_path / "server" / f"{prefix}-images-idx3-ubyte.gz",
                 rng.integers(0, 256, size=(rows, 28, 28), dtype=np.uint8))  # fmt: skip
        save_idx(tmp_path / "server" / f"{prefix}-labels-idx1-ubyte.gz",
                 np.arange(rows, dtype=np.uint8) % 10)  # fmt: skip
    places = [str(tmp_path / name) for name in ("server", "logs", "m.safetensors")]
    result, _ = launch(
        2, str(SCRIPTS / "download.py"), *places, *[machines] * bool(machines),
        env={"XDG_CACHE_HOME": str(tmp_path / "cache"), "NUDGENET_DATA": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == fetching
    for log in fetching:
        fetched = (tmp_path / "logs" / log).read_text().splitlines()
        assert sorted(url.rsplit("/", 1)[1] for url in fetched) == sorted(
            p.name for p in (tmp_path / "server").iterdir()
        ), "each file once"
    assert (tmp_path / "m.safetensors").exists()


@pytest.fixture
def no_launcher(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_launcher_is_read_from_the_environment(no_launcher, monkeypatch):
    assert launcher() is None
    monkeypatch.setenv("HOROVOD_SIZE", "2")  # horovodrun (gloo)
    assert launcher() == ("HOROVOD_SIZE", 2)
    monkeypatch.setenv("WORLD_SIZE", "3")  # torchrun
    assert launcher() == ("WORLD_SIZE", 3)
    monkeypatch.setenv("PMIX_RANK", "3")  # an MPI launcher's first: torchrun under mpiexec
    assert launcher() == ("WORLD_SIZE", 3)
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "2")
    assert launcher() == ("SLURM_STEP_NUM_TASKS", 2)
    monkeypatch.delenv("SLURM_STEP_NUM_TASKS")
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("HOROVOD_SIZE")
    assert launcher() == ("PMIX_RANK", None)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert launcher() == ("OMPI_COMM_WORLD_SIZE", 4)
    monkeypatch.setenv("PMI_SIZE", "8")
    assert launcher() == ("PMI_SIZE", 8)


@pytest.mark.parametrize("name", ["WORLD_SIZE", "HOROVOD_SIZE"])
def test_a_launcher_without_mpi_of_one_process_is_no_launcher(name, no_launcher, monkeypatch):
    """torch's env:// tools set WORLD_SIZE=1 for one process: a script run so is a script run
    alone (guard() passes errors, fit warns and trains), needing no mpi4py."""
    monkeypatch.setenv(name, "1")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    assert launcher() is None and ng.distributed.rank() == 0 and ng.distributed.size() == 1
    with pytest.raises(ValueError, match="bad data file"):
        with ng.distributed.guard():
            raise ValueError("bad data file")
    model = ng.Sequential(ng.Linear(3, 2, seed=0))
    x, y = np.ones((8, 3), np.float32), np.zeros(8, np.int64)
    with pytest.warns(RuntimeWarning, match="not started by an MPI launcher"):
        history = ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1),
                         x, y, epochs=1, seed=0, verbose=0, distributed=True)  # fmt: skip
    assert len(history) == 1


def _fit(distributed, seed=0):
    model = ng.Sequential(ng.Linear(3, 4, seed=0), ng.Tanh(), ng.Linear(4, 2, seed=1))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
    ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=2, batch_size=8, seed=seed,
           verbose=0, distributed=distributed)  # fmt: skip
    return model[0].weight.data.copy()


def test_distributed_outside_a_launcher_warns_and_is_plain_fit(no_launcher):
    """last_run() then says so (the README's last_run()["reduction"] was a KeyError alone)."""
    with pytest.warns(RuntimeWarning, match="not started by an MPI launcher"):
        weights = _fit(True)
    np.testing.assert_array_equal(weights, _fit(False))
    assert ng.distributed.last_run() == {
        "ranks": 1, "reduction": "none (one process)", "allreduce_calls": 0,
        "allreduce_seconds": 0.0, "allreduce_bytes": 0,
    }  # fmt: skip


@pytest.mark.parametrize("distributed", [False, True])
def test_fit_warnings_point_at_the_line_that_called_fit(distributed, no_launcher):
    """However deep in nudgenet a warning is raised (distributed=True runs fit again inside
    nudgenet), it names the caller's file: warnings filters by module, and the line shown, work."""
    model = ng.Sequential(ng.Linear(3, 2, seed=0))
    x, y = np.random.default_rng(0).normal(size=(40, 3)) * 1e30, np.arange(40) % 2
    with pytest.warns(RuntimeWarning) as record:
        ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=1e30), x, y,
               epochs=3, seed=0, verbose=0, distributed=distributed)  # fmt: skip
    ours = [w for w in record if str(w.message).startswith("fit")]  # not NumPy's overflows
    assert any("stopping. Lower the learning rate" in str(w.message) for w in ours)
    assert len(ours) == 1 + distributed  # and "not started by an MPI launcher"
    assert {w.filename for w in ours} == {__file__}, [(w.filename, str(w.message)) for w in ours]


def test_distributed_takes_true_or_false(no_launcher):
    with pytest.raises(TypeError, match="fit: distributed must be True, False or a DataParallel, "
                       "got 'yes'"):  # fmt: skip
        _fit("yes")
    with pytest.warns(RuntimeWarning, match="not started by an MPI launcher"):
        _fit(np.True_)  # a NumPy bool is a bool


def test_forgetting_distributed_true_under_a_launcher_warns_once(no_launcher, monkeypatch,
                                                                  tmp_path):
    """``mpiexec -n 2 python script.py`` whose fit lacks distributed=True: each process trains
    its own copy (and writes its files), perhaps in one checkpoint folder; one line says so, the
    folder too where there is one (without a checkpoint it said nothing)."""
    model = ng.Sequential(ng.Linear(3, 2, seed=0))
    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    keywords = dict(epochs=2, seed=0, verbose=0, distributed=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no launcher: nothing to say
        ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
               **keywords)  # fmt: skip
    monkeypatch.setenv("PMI_SIZE", "2")
    said = ("fit: an MPI launcher started 2 processes (PMI_SIZE is set), but distributed=False: "
            "each process trains its own copy{}; pass distributed=True (and a seed) to train one "
            "model on all of them, or ignore this where each process trains a model of its own")
    for checkpoint, where in ((None, ""),
                              (ng.Checkpoint(tmp_path / "ck"),
                               f" (this one's checkpoint folder: {tmp_path / 'ck'})")):  # fmt: skip
        with pytest.warns(RuntimeWarning) as record:
            ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
                   checkpoint=checkpoint, **keywords)  # fmt: skip
        assert [str(w.message) for w in record] == [said.format(where)]
        assert record[0].filename == __file__


def test_missing_mpi4py_under_a_launcher_is_a_clear_error(no_launcher, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(DistributedError, match=r'needs mpi4py .*pip install "nudgenet\[mpi\]"'):
        _fit(True)
    assert main(["train", "--epochs", "1", "-q"]) == 1  # never 2 copies racing on one file
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "nudgenet[mpi]"' in err[0] and "PMI_SIZE" in err[0]


FIT = """
import numpy as np, nudgenet as ng
model = ng.Sequential(ng.Linear(2, 2, seed=0))
ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), np.ones((8, 2)),
       np.arange(8) % 2, epochs=1, seed=0, verbose=0, distributed=True)
"""


@pytest.mark.parametrize(
    ("variables", "command"),
    [
        ({"SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "1"}, ["-c", FIT]),  # srun, no --mpi=pmi2
        ({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"},  # another MPI's mpiexec
         ["-m", "nudgenet", "train", "--epochs", "1", "-o", "m.safetensors"]),
        ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}, ["-c", FIT]),  # torchrun
        ({"HOROVOD_SIZE": "2", "HOROVOD_RANK": "1"},  # horovodrun (gloo)
         ["-m", "nudgenet", "train", "--epochs", "1", "-o", "m.safetensors"]),
    ],
    ids=["srun-fit", "open-mpi-train", "torchrun-fit", "horovodrun-train"],
)  # fmt: skip
def test_a_launcher_mpi_cannot_hear_is_refused_not_run_as_copies(variables, command, tmp_path):
    """A launcher's variables say 2 processes, but MPI makes each a world of its own (a launcher
    the mpich wheel's MPI does not speak to): every copy would train alone and write the same
    files.  fit(distributed=True) and nudgenet train refuse in one line saying what to use."""
    done = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env=environment(variables),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    name = next(iter(variables))
    who = {"WORLD_SIZE": "torchrun", "HOROVOD_SIZE": "horovodrun"}.get(name, "an MPI launcher")
    said = f"runs under {who}, which started 2 processes ({name} is set), but MPI sees a world of"
    lines = [line for line in done.stderr.splitlines() if said in line]
    assert len(lines) == 1 and "srun --mpi=pmi2" in lines[0], done.stderr[-2000:]
    assert f"start them with {Path(sys.executable).with_name('mpiexec')}" in lines[0]
    if who != "an MPI launcher":
        assert f"{who} starts no MPI, over which nudgenet trains data-parallel" in lines[0]
    if command[0] == "-m":  # the command line: one line (mpi4py may warn too), no model written
        assert lines[0].startswith("nudgenet train: error: nudgenet train runs under")
        assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_the_other_commands_refuse_to_run_as_several_copies(no_launcher, monkeypatch, capsys):
    """``mpiexec -n 2 nudgenet export m.safetensors m.onnx`` would write one file twice."""
    commands = {
        "evaluate": ["m.safetensors"], "predict": ["m.safetensors", "x.npy"],
        "explain": ["m.safetensors"], "gradcheck": ["m.safetensors"],
        "export": ["m.safetensors", "m.onnx"],
    }  # fmt: skip
    parser = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(parser.choices) == {"train", *commands}, "a new command: add it here"
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # no MPI to join here: see the test below
    for command, arguments in commands.items():
        assert main([command, *arguments]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            f"nudgenet {command}: error: this command runs in one process, but an MPI launcher "
            "started 2 processes (PMI_SIZE is set): run it without mpiexec (only nudgenet "
            "train trains data-parallel)"
        ]


def test_torchrun_and_horovodrun_copies_are_warned_of_and_refused_by_name(
    no_launcher, monkeypatch, tmp_path, capsys
):
    """A launcher that starts no MPI (torchrun's WORLD_SIZE, horovodrun's HOROVOD_SIZE) counts as
    one that started several processes: distributed=False with a checkpoint warns, naming it, and
    the one-process commands refuse, saying to run without it."""
    model = ng.Sequential(ng.Linear(3, 2, seed=0))
    x, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # no MPI to join here
    for name, who in (("WORLD_SIZE", "torchrun"), ("HOROVOD_SIZE", "horovodrun")):
        monkeypatch.setenv(name, "2")
        warned = rf"fit: {who} started 2 processes \({name} is set\), but distributed=False"
        optimizer = ng.optim.SGD(model.parameters(), lr=0.1)
        with pytest.warns(RuntimeWarning, match=warned):
            ng.fit(model, ng.CrossEntropyLoss(), optimizer, x, y, epochs=1, seed=0, verbose=0,
                   checkpoint=ng.Checkpoint(tmp_path / who))  # fmt: skip
        assert main(["export", "m.safetensors", "m.onnx"]) == 1
        assert capsys.readouterr().err.strip() == (
            f"nudgenet export: error: this command runs in one process, but {who} started 2 "
            f"processes ({name} is set): run it without {who} (only nudgenet train trains "
            "data-parallel)"
        )
        monkeypatch.delenv(name)


def test_the_suite_s_aborted_jobs_leave_no_shared_memory_file_behind():
    """MPICH leaves a 2 MiB file in /dev/shm behind an aborted job; the suite's many aborting
    cases would fill a small /dev/shm and fail later tests: run_job removes them."""
    before = set(SHARED_MEMORY.glob("mpich_shm_*"))
    result, _ = launch(2, str(SCRIPTS / "faults.py"), "uncaught", timeout=30)
    assert result.returncode != 0 and "FileNotFoundError: data.npz" in result.stderr
    assert set(SHARED_MEMORY.glob("mpich_shm_*")) - before == set()


def test_a_command_refusing_beside_train_ends_the_job(tmp_path):
    """``mpiexec -n 1 nudgenet train : -n 1 nudgenet evaluate``: evaluate refuses through MPI
    (it joins, then aborts the job), so train, waiting for it at MPI's start, ends too."""
    train = [sys.executable, "-m", "nudgenet", "train", "--epochs", "50", "-o", "m.safetensors"]
    evaluate = [sys.executable, "-m", "nudgenet", "evaluate", "m.safetensors"]
    started = time.perf_counter()
    done = run_job(
        [mpiexec(), "-n", "1", *train, ":", "-n", "1", *evaluate],
        timeout=30, env=environment(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert time.perf_counter() - started < 20
    assert (
        "nudgenet: rank 1 of 2: DistributedError: this command runs in one process, but an MPI "
        "launcher started 2 processes (PMI_SIZE is set)"
    ) in done.stderr
    assert "Traceback" not in done.stderr, "a user's mistake: its line alone, as without MPI"
    assert not (tmp_path / "m.safetensors").exists()


def test_a_rank_s_one_line_mistake_waits_less_than_a_stall_shutdown(monkeypatch):
    """A rank other than 0 holds back its one-line mistake for rank 0's: under half a stall
    shutdown that is set, else rank 0, waiting for it at a rendezvous, ended the job first and
    the failing rank's line was never said."""
    from nudgenet.distributed.faults import STALL_SHUTDOWN, _deferral

    monkeypatch.delenv(STALL_SHUTDOWN, raising=False)
    assert _deferral() == 2.0
    for setting, waits in (("1", 0.5), ("60", 2.0), ("soon", 2.0), ("0", 2.0)):
        monkeypatch.setenv(STALL_SHUTDOWN, setting)
        assert _deferral() == waits, setting


def test_a_usage_mistake_under_mpiexec_is_one_line_and_exit_code_2(tmp_path):
    """Options that contradict each other: exit code 2 as in one process (it was 1), and one
    line, rank 0's (every rank made the mistake: each wrote its line, and MPICH one more)."""
    command = ["-m", "nudgenet", "train", "--early-stopping", "1", "--validation-split", "0"]
    result, seconds = launch(3, *command, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    ours = [line for line in result.stderr.splitlines() if line.startswith("nudgenet:")]
    assert ours == ["nudgenet: rank 0 of 3: UsageError: --early-stopping watches val_loss: it "
                    "needs --validation-split > 0"], result.stderr  # fmt: skip
    assert seconds < 30 and not list(tmp_path.iterdir())
    for ranks, option, value in ((2, "--epochs", "many"), (3, "--batch-size", "0")):
        result, _ = launch(ranks, "-m", "nudgenet", "train", option, value, cwd=tmp_path)
        assert result.returncode == 2  # a value argparse refuses: rank 0's line (it was one a rank)
        ours = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert ours == [f"nudgenet: rank 0 of {ranks}: UsageError: argument {option}: expected a "
                        f"whole number >= 1, got '{value}' (see nudgenet train --help)"], (
            result.stderr)  # fmt: skip


def test_a_usage_mistake_of_one_rank_s_own_ends_the_job_with_its_line(tmp_path):
    """``mpiexec -n 1 nudgenet train ... : -n 1 nudgenet train --epochs many``: the second
    process's parser refused before it joined MPI, and the first waited at MPI's start for
    ever; it refuses through MPI now, ending the job with its line."""
    train = [sys.executable, "-m", "nudgenet", "train", "--epochs", "50", "-o", "m.safetensors"]
    started = time.perf_counter()
    done = run_job(
        [mpiexec(), "-n", "1", *train, ":", "-n", "1", *train[:4], "--epochs", "many"],
        timeout=30, env=environment(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2 and time.perf_counter() - started < 20, done.stderr[-2000:]
    said = "nudgenet: rank 1 of 2: UsageError: argument --epochs: expected a whole number >= 1"
    assert said in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_a_batch_is_shared_in_contiguous_near_equal_parts(size):
    for m in range(0, 12):
        parts = [bounds(m, rank, size) for rank in range(size)]
        assert parts[0][0] == 0 and parts[-1][1] == m
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        lengths = [stop - start for start, stop in parts]
        assert max(lengths) - min(lengths) <= 1
        assert lengths[0] >= 1 or m == 0, "rank 0 (its diagnostics are the History's) has rows"


def test_memmap_arrays_maps_npy_files_and_save_arrays_archives(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(8, 3)
    y = np.arange(8)
    ng.datasets.save_arrays(tmp_path / "d.npz", x=x, y=y)
    with np.load(tmp_path / "d.npz") as plain:  # a valid .npz for everyone else too
        np.testing.assert_array_equal(plain["x"], x)
    np.save(tmp_path / "x.npy", np.asfortranarray(x))
    mx, my = ng.datasets.memmap_arrays(tmp_path / "d.npz")
    assert isinstance(mx, np.memmap) and isinstance(my, np.memmap)
    np.testing.assert_array_equal(mx, x)
    np.testing.assert_array_equal(my, y)
    fx, none = ng.datasets.memmap_arrays(tmp_path / "x.npy")
    np.testing.assert_array_equal(fx, x)
    assert none is None
    model = ng.Sequential(ng.Linear(3, 2))  # float32, as the file: fit uses the mapped rows
    assert np.shares_memory(ng.evaluation.prepare_data(model, mx), mx)
    assert mx.flags.aligned and my.flags.aligned  # else NumPy copies all of it to take rows


def test_training_on_a_mapped_file_copies_only_its_batches(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npz"
    ng.datasets.save_arrays(
        path, x=rng.random((20000, 50), dtype=np.float32), y=np.arange(20000) % 2
    )
    x, y = ng.datasets.memmap_arrays(path)  # 4 MB of features; a batch is 0.4 MB
    model = ng.Sequential(ng.Linear(50, 2, seed=0))
    tracemalloc.start()
    try:
        ng.fit(model, ng.CrossEntropyLoss(), ng.optim.SGD(model.parameters(), lr=0.1), x, y,
               epochs=1, batch_size=2000, seed=0, verbose=0)  # fmt: skip
        assert tracemalloc.get_traced_memory()[1] < 2_000_000
    finally:
        tracemalloc.stop()


def test_memmap_arrays_refuses_what_cannot_be_mapped(tmp_path):
    x = np.ones((4, 2), np.float32)
    np.savez_compressed(tmp_path / "c.npz", x=x)
    with pytest.raises(ng.DataError, match=r"c.npz\[x.npy\] is compressed; .*save_arrays\(path"):
        ng.datasets.memmap_arrays(tmp_path / "c.npz")
    np.savez(tmp_path / "u.npz", x=x)  # members at odd offsets
    with pytest.raises(
        ng.DataError, match=r"u.npz\[x.npy\]: its data is not aligned .*save_arrays"
    ):
        ng.datasets.memmap_arrays(tmp_path / "u.npz")
    np.save(tmp_path / "o.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(ng.DataError, match="Python objects"):
        ng.datasets.memmap_arrays(tmp_path / "o.npy")
    np.save(tmp_path / "t.npy", x)
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:-4])
    with pytest.raises(ng.DataError, match=r"declares shape \(4, 2\) of float32 but 28 bytes"):
        ng.datasets.memmap_arrays(tmp_path / "t.npy")
    ng.datasets.save_arrays(tmp_path / "n.npz", y=np.arange(3))
    with pytest.raises(ng.DataError, match="no features: expected key 'x'"):
        ng.datasets.memmap_arrays(tmp_path / "n.npz")


def test_the_scaling_benchmark_runs(tmp_path):
    """benchmarks/mpi_scaling.py --quick: every part, the model from its own measurements."""
    out = tmp_path / "scaling.json"
    script = ROOT / "benchmarks" / "mpi_scaling.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=120, env=environment(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    two = report["scaling"]["C"]["2 ranks, 1 thread each"]
    assert two["bytes_per_step"] == 4 * (1_863_690 + 1)  # C's parameters and the loss, float32
    if len(os.sched_getaffinity(0)) > 1:  # the one round's cross-core probes, before and after
        (probes,) = two["cross_core"]
        assert len(probes["shared_us"]) == len(probes["own_us"]) == 2
        assert two["rounds_sharing_a_cache"] == probes["share_a_cache"]  # 1 if near, else 0
    assert report["allreduce"]["bandwidth_gbs"] > 0
    assert set(report["model"]) == {"A", "B", "C"}
    assert len(report["memory"]["2 ranks"]) == 2


def test_a_warning_from_a_context_manager_of_nudgenet_s_points_at_the_user_s_line():
    """The oversubscription warning, raised as fit's generator context manager enters, named
    contextlib.py: frames of contextlib are passed over as nudgenet's are."""
    import os
    import warnings

    import nudgenet.errors

    inside = os.path.join(os.path.dirname(nudgenet.errors.__file__), "context.py")
    source = (
        "import contextlib, warnings\n"
        "from nudgenet.errors import caller_stacklevel\n"
        "@contextlib.contextmanager\n"
        "def running():\n"
        "    warnings.warn('crowded', stacklevel=caller_stacklevel())\n"
        "    yield\n"
    )
    namespace = {}
    exec(compile(source, inside, "exec"), namespace)  # as if written in nudgenet's package
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with namespace["running"]():
            pass
    assert [w.filename for w in record] == [__file__]


@pytest.mark.parametrize("first, second, asking", [
    (["train", "--epochs", "50", "-o", "m.safetensors"], ["train", "--help"], 1),
    (["--version"], ["train", "--epochs", "50", "-o", "m.safetensors"], 0),
])  # fmt: skip
def test_help_or_version_beside_a_running_command_ends_the_job(first, second, asking, tmp_path):
    """``mpiexec -n 1 nudgenet train ... : -n 1 nudgenet train --help``: --help (or --version)
    answered and exited without joining MPI, and train waited at MPI's start for ever; they
    join now, and the job ends with one line naming the rank that asked."""
    command = [sys.executable, "-m", "nudgenet"]
    started = time.perf_counter()
    done = run_job(
        [mpiexec(), "-n", "1", *command, *first, ":", "-n", "1", *command, *second],
        timeout=30, env=environment(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1 and time.perf_counter() - started < 20, done.stderr[-2000:]
    asked = " ".join(["nudgenet", *(second if asking else first)])
    ours = [line for line in done.stderr.splitlines() if line.startswith("nudgenet:")]
    assert ours == [f"nudgenet: rank 0 of 2: DistributedError: rank {asking} asked for "
                    f"{asked!r}, which answers and exits, while rank {1 - asking} runs "
                    "'nudgenet train': every process of the job must run the same nudgenet "
                    "command"], done.stderr  # fmt: skip
    assert not (tmp_path / "m.safetensors").exists()


def test_help_and_version_under_mpiexec_are_said_once(tmp_path):
    """``mpiexec -n 2 nudgenet train --help`` printed the help once a rank; once now, exit 0
    (each answer asked for, once, where the ranks asked for different ones)."""
    for asked, starts in ((["train", "--help"], "usage: nudgenet train [-h]"),
                          (["--version"], f"nudgenet {ng.__version__}")):  # fmt: skip
        result, _ = launch(2, "-m", "nudgenet", *asked, cwd=tmp_path, timeout=30)
        assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
        assert result.stdout.startswith(starts) and result.stdout.count(starts) == 1
    command = [sys.executable, "-m", "nudgenet"]
    done = run_job(
        [mpiexec(), "-n", "1", *command, "--version", ":", "-n", "1", *command, "-h"],
        timeout=30, env=environment(), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"nudgenet {ng.__version__}\nusage: nudgenet [-h]")


def test_an_error_raised_alike_on_a_sub_communicator_is_reported_once():
    """Review 81: "rank 0 alone reports it" read the world's rank, so on a communicator
    without world rank 0 every one of its ranks reported the error; its own rank 0 does."""
    result, seconds = launch(3, str(SCRIPTS / "sub_alike.py"), timeout=30)
    assert result.returncode == 1 and "finished" not in result.stdout, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("nudgenet: rank")]
    assert len(lines) == 1 and "ValueError: fit: expected epochs >= 0" in lines[0], lines
    assert result.stderr.count("Traceback (most recent call last):") == 1 and seconds < 20
