"""The benchmark runs end to end (no timing assertions: timings belong in the benchmark)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nudgenet.bench import cores, floors, implementations, run

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_quick_benchmark_runs_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "nudgenet.bench", "--quick"]
    command += ["--impl", "nudgenet", "numpy", "gemm-numpy"]
    done = subprocess.run(
        [*command, "--json", str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "| A | 100 | 1000 | nudgenet |" in done.stdout
    assert "GFLOP/s" in done.stdout
    report = json.loads(out.read_text())
    assert report["machine"]["gemm_gflops"] > 0 and report["machine"]["copy_gbps"] > 0
    rows = report["results"]
    assert {(r["arch"], r["batch"], r["impl"]) for r in rows} == {
        (arch, batch, impl)
        for arch, batch in [("A", 100), ("A", 10), ("C", 100)]
        for impl in ("nudgenet", "numpy", "gemm-numpy")
    }
    for row in rows:
        assert "error" not in row, row
        assert row["seconds"] > 0 and row["peak_rss_mib"] > 0 and row["predict_seconds"] > 0
        if row["impl"] == "nudgenet":
            assert row["speedup_vs_numpy"] > 0
            assert row["times_gemm-numpy"] > 0  # a floor is not a comparator: no speedup
            assert "speedup_vs_gemm-numpy" not in row
    assert "floor: nudgenet" in done.stdout


TWO_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")


@TWO_CPUS
def test_the_cross_core_probe_measures_both_writes_and_leaves_nothing(tmp_path, monkeypatch):
    """Both medians come back; the shared file is gone; this process's CPUs are as they were."""
    monkeypatch.setattr(cores.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cores.os, "access", lambda path, mode: False)  # (no /dev/shm: tmp_path)
    before = os.sched_getaffinity(0)
    found = cores.cross_core_write(kib=64, repeats=3)
    assert set(found) == {"shared_us", "own_us"} and min(found.values()) > 0
    assert list(tmp_path.iterdir()) == []
    assert os.sched_getaffinity(0) == before


@TWO_CPUS
@pytest.mark.parametrize(
    "reader, expected",
    [("import sys; sys.exit(3)", r"the reading process on CPU \d+ ended \(exit status 3\)"),
     ("import time; time.sleep(60)", r"the reading process on CPU \d+ did not answer in 0.5 s")],
)  # fmt: skip
def test_a_reading_process_that_ends_or_stays_silent_is_one_line_and_leaves_nothing(
    tmp_path, monkeypatch, reader, expected
):
    script = tmp_path / "reader.py"
    script.write_text(reader)
    monkeypatch.setattr(cores, "__file__", str(script))
    monkeypatch.setattr(cores, "ANSWER_SECONDS", 0.5)
    monkeypatch.setattr(cores.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cores.os, "access", lambda path, mode: False)
    before = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError, match=expected):
        cores.cross_core_write(kib=4, repeats=2)
    assert os.sched_getaffinity(0) == before
    assert list(tmp_path.iterdir()) == [script]  # the shared file removed
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    assert children == []  # the reader waited for (killed when silent)


def test_a_probe_that_cannot_run_leaves_the_measurement_alone_and_says_why(monkeypatch, capsys):
    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cores, "cross_core_write", no_room)
    assert cores.around(lambda: 5) == (5, None)
    said = capsys.readouterr().err
    assert said == "note: no cross-core probe: [Errno 28] No space left on device\n"
    assert cores.described(None) == "no cross-core probe"


def test_cpus_share_a_cache_when_overwriting_what_the_other_read_costs_under_8_times_more(
    monkeypatch,
):
    assert cores.share_a_cache({"shared_us": 55.0, "own_us": 12.0})
    assert not cores.share_a_cache({"shared_us": 230.0, "own_us": 12.0})
    probes = iter([{"shared_us": 55.0, "own_us": 12.0}, {"shared_us": 230.0, "own_us": 12.0}])
    monkeypatch.setattr(cores, "cross_core_write", lambda: next(probes))
    found, said = cores.around(lambda: "fit")  # near before, apart after: not near throughout
    assert found == "fit" and said == {
        "shared_us": [55.0, 230.0], "own_us": [12.0, 12.0], "share_a_cache": False}  # fmt: skip
    assert cores.described(said) == "55.0, 230.0 µs (alone 12.0, 12.0): apart"


def test_the_cross_core_probe_needs_two_cpus(monkeypatch):
    monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: {0})
    assert cores.cross_core_write() is None
    assert cores.around(lambda: 1) == (1, None)


def test_missing_comparators_are_skipped_with_a_note(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "torch" else real(name)
    )
    impls, notes = run.available(["nudgenet", "torch", "numpy"])
    assert impls == ["nudgenet", "numpy"]
    assert notes == ["torch: skipped (torch is not installed)"]


def test_parameter_count_and_flops_basis():
    assert (
        implementations.parameter_count(implementations.ARCHITECTURES["A"])
        == 785 * 16 + 17 * 16 + 17 * 10
    )


def test_floor_plan_has_every_product_of_a_step():
    # forward a W per layer; ∂W = aᵀ δ per layer; δ Wᵀ for every layer but the first
    plan = floors.gemm_plan((784, 16, 10), batch=100)
    assert plan == [
        ((100, 784), (784, 16), (100, 16), (100, 16), (784, 16), None),
        ((100, 16), (16, 10), (100, 10), (100, 10), (16, 10), (100, 16)),
    ]


ROOT = Path(__file__).resolve().parents[1]


def test_the_scikit_learn_benchmark_runs_and_prints_its_table(tmp_path):
    """benchmarks/sklearn_mlp.py on the smallest set, one seed: a row per solver, the same
    scores as scikit-learn's (the estimators' parity, seen through the script)."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/sklearn_mlp.py"), "--seeds", "1",
         "--solvers", "lbfgs,adam", "--data", "breast_cancer"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if "| breast_cancer |" in line]
    assert [row[2].strip() for row in rows[-2:]] == ["lbfgs", "adam"]
    for row in rows:
        assert row[4] == row[5] and row[6].strip() == "+0.00", row  # scores as scikit-learn's
        assert row[9].strip().endswith("×")
        if len(os.sched_getaffinity(0)) > 1:  # the cross-core write cost, before and after
            assert row[11].strip().endswith(("near", "apart")), row


def test_the_online_and_sparse_benchmark_runs_and_prints_its_table(tmp_path):
    """benchmarks/sklearn_online.py, tiny: a row per partial_fit batch size and three for the
    sparse X, each with its ratio."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/sklearn_online.py"), "--calls", "2",
         "--rows", "200"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "×" in line]
    assert [row.split("|")[1].strip() for row in rows] == [
        "partial_fit, 16 rows", "partial_fit, 64 rows", "partial_fit, 256 rows",
        "200×20000 sparse: fit peak memory", "200×20000 sparse: predict peak memory",
        "200×20000 sparse: fit time (with tracing)",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "command, expected",
    [
        (["-m", "nudgenet.bench", "--rounds", "0"], "expected an integer >= 1, got '0'"),
        (["-m", "nudgenet.bench", "--json", "/no/such/folder/x.json"], "does not exist"),
        ([ROOT / "benchmarks/mpi_scaling.py", "--repeats", "-2"], "got '-2'"),
        ([ROOT / "benchmarks/mpi_scaling.py", "--json", "."], "got the folder '.'"),
        ([ROOT / "benchmarks/sklearn_mlp.py", "--solvers", "adma"], "names from adam, sgd, lbfgs"),
        ([ROOT / "benchmarks/sklearn_mlp.py", "--seeds", "0"], "got '0'"),
        ([ROOT / "benchmarks/sklearn_online.py", "--calls", "0"], "got '0'"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(command, expected, tmp_path):
    """A bad value is argparse's one-line error at once (exit 2), not a traceback at the end
    of minutes of work."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, *map(str, command)],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr.splitlines()[-1]
    assert "Traceback" not in done.stderr
