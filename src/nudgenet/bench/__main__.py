"""``python -m nudgenet.bench``: the benchmark's command line (and its workers' entry)."""

from __future__ import annotations

import argparse
import json
import sys

from . import __doc__ as description
from .arguments import output_file, positive_int
from .implementations import ARCHITECTURES, IMPLEMENTATIONS
from .report import format_table
from .run import benchmark
from .worker import worker


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nudgenet.bench", description=description.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: proves the benchmark runs"
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=3, help="timed epochs after one warm-up"
    )
    parser.add_argument(
        "--rounds", type=positive_int, default=2, help="worker runs per implementation"
    )
    parser.add_argument("--samples", type=positive_int, default=60000, help="rows for A and B")
    parser.add_argument("--c-samples", type=positive_int, default=10000, help="rows for C")
    parser.add_argument("--arch", nargs="+", default=list(ARCHITECTURES), choices=ARCHITECTURES)
    parser.add_argument("--impl", nargs="+", default=list(IMPLEMENTATIONS), choices=IMPLEMENTATIONS)
    parser.add_argument(
        "--json", type=output_file, metavar="PATH", help="also write the results as JSON"
    )
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        impl, arch, batch, samples, epochs = args.worker
        print(json.dumps(worker(impl, arch, int(batch), int(samples), int(epochs))))
        return 0
    report = benchmark(args)
    print(format_table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
