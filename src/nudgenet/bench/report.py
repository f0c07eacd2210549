"""The report: worker runs merged into rows, nudgenet's ratios to the others, the table."""

from __future__ import annotations

import statistics

from .implementations import FLOORS


def merge(runs: list[dict]) -> dict:
    """One row from several worker runs: medians over every timed epoch, the largest peak."""
    errors = [run["error"] for run in runs if "error" in run]
    if errors:
        return {"error": errors[0]}
    epochs = [t for run in runs for t in run["epoch_seconds"]]
    return {
        "epoch_seconds": epochs,
        "epochs_timed": len(epochs),
        "seconds": statistics.median(epochs),
        "predict_seconds": statistics.median([run["predict_seconds"] for run in runs]),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "peak_over_data_mib": max(run["peak_over_data_mib"] for run in runs),
    }


def short(row) -> str:
    if "error" in row:
        return f"error: {row['error']}"
    return f"{row['seconds']:.4f} s/epoch"


def add_ratios(results) -> None:
    """``speedup_vs_<impl>``: that implementation's seconds / nudgenet's, same configuration;
    ``times_<floor>``: nudgenet's seconds / a floor's (how far above its matrix products)."""
    for row in results:
        if row["impl"] != "nudgenet" or "seconds" not in row:
            continue
        for other in results:
            same = (other["arch"], other["batch"], other["samples"]) == (
                row["arch"], row["batch"], row["samples"]
            )  # fmt: skip
            if not same or other is row or "seconds" not in other:
                continue
            if other["impl"] in FLOORS:
                row[f"times_{other['impl']}"] = row["seconds"] / other["seconds"]
                row[f"predict_times_{other['impl']}"] = (
                    row["predict_seconds"] / other["predict_seconds"]
                )
            else:
                row[f"speedup_vs_{other['impl']}"] = other["seconds"] / row["seconds"]
                row[f"predict_speedup_vs_{other['impl']}"] = (
                    other["predict_seconds"] / row["predict_seconds"]
                )


def format_table(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m['processor']}, {m['cpus']} CPUs, {m['platform']}",
        f"numpy {m['numpy']}, BLAS {m['blas']}"
        + (f", torch {m['torch']}" if "torch" in m else "")
        + (f", scikit-learn {m['sklearn']}" if "sklearn" in m else ""),
        f"ceilings: float32 GEMM {m['gemm_gflops']:.1f} GFLOP/s, copy {m['copy_gbps']:.1f} GB/s; "
        f"load average {m['load_average_before']:.1f} before, {m['load_average_after']:.1f} after",
        *report["notes"],
        "",
        "| arch | batch | rows | impl | s/epoch (median) | GFLOP/s | % GEMM | peak MiB "
        "(over data) | predict s | nudgenet speedup (train / predict) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_config = {}
    for row in report["results"]:
        by_config.setdefault((row["arch"], row["batch"], row["samples"]), []).append(row)
    for (arch, batch, samples), rows in by_config.items():
        ours = next((r for r in rows if r["impl"] == "nudgenet"), {})
        for row in rows:
            head = f"| {arch} | {batch} | {samples} | {row['impl']} |"
            if "error" in row:
                lines.append(f"{head} error: {row['error']} |||||||")
                continue
            speed, key, floor = "", f"speedup_vs_{row['impl']}", f"times_{row['impl']}"
            if key in ours:
                speed = f"{ours[key]:.2f}× / {ours['predict_' + key]:.2f}×"
            elif floor in ours:
                speed = f"floor: nudgenet {ours[floor]:.2f}× / {ours['predict_' + floor]:.2f}× it"
            lines.append(
                f"{head} {row['seconds']:.4f} | {row['gflops']:.1f} | "
                f"{100 * row['fraction_of_gemm']:.0f}% | {row['peak_rss_mib']:.0f} "
                f"({row['peak_over_data_mib']:.0f}) | {row['predict_seconds']:.4f} | {speed} |"
            )
    return "\n".join(lines)
