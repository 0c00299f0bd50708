"""The command line: ``python -m bench`` (``make bench``).

This module owns the options, where the report goes and stdout: the handlers
log to stdout, as Lambda wants, so it is pointed at stderr while the
benchmark runs and the report alone is printed. It is also the entry point
of the memory measure's child process (``--child-memory``); that process is
its only caller.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import bench
from bench.fixtures import ROOT, import_parallelism, log
from bench.memory import child_memory
from bench.network import (
    CURVE_DELAYS,
    CURVE_PARALLELISM,
    DEFAULT_DELAY,
    QUICK_CURVE_DELAYS,
    QUICK_CURVE_PARALLELISM,
)
from bench.report import render, to_json
from bench.suite import Options, run_benchmark
from testkit.images import skopeo_binary
from testkit.registry import registry_binary

DEFAULT_OUTPUT = ROOT / "bench" / "RESULTS.md"


def parse_args(argv: Sequence[str] | None) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(bench.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--tags", type=int, help="tags in the repository (default 1000)")
    parser.add_argument("--runs", type=int, help="timed runs, median reported (default 3)")
    parser.add_argument("--multiarch", type=int, help="multi-arch tags among them (default 3)")
    parser.add_argument("--latency-samples", type=int, help="per latency figure (default 10)")
    parser.add_argument("--cold-start-samples", type=int, help="per import (default 7)")
    parser.add_argument(
        "--no-token-registry", action="store_true", help="skip the token-auth request counts"
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=DEFAULT_DELAY * 1000,
        help="milliseconds the latency proxy adds per request (default 50)",
    )
    parser.add_argument(
        "--answer-tags", type=int, help="realistic tags for the answer size (default 1000)"
    )
    parser.add_argument(
        "--no-fresh-clone",
        action="store_true",
        help="skip the fresh clone's first `make run` (it installs from the package index)",
    )
    parser.add_argument(
        "--pip-cache",
        action="store_true",
        help="let the fresh clone's install use the pip cache (default: none, as a newcomer)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every measurement at a tiny scale: 20 tags, 1 run, 2 samples, a small curve, "
        "the fresh clone with the pip cache",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown report")
    parser.add_argument("--json", type=Path, dest="json_path", help="also write raw figures")
    parser.add_argument(
        "--profile", type=Path, help="also write pyinstrument profiles of each import kind here"
    )
    parser.add_argument("--child-memory", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = bool(args.quick)

    def pick(value: int | None, normal: int, small: int) -> int:
        return value if value is not None else (small if quick else normal)

    parallelism = import_parallelism()
    options = Options(
        tags=pick(args.tags, 1000, 20),
        runs=max(1, pick(args.runs, 3, 1)),
        multiarch=pick(args.multiarch, 3, 2),
        parallelism=parallelism,
        latency_samples=max(1, pick(args.latency_samples, 10, 2)),
        cold_start_samples=max(1, pick(args.cold_start_samples, 7, 2)),
        token_registry=not args.no_token_registry,
        output=args.output,
        json_path=args.json_path,
        quick=quick,
        profile=args.profile,
        network_delay=args.delay / 1000,
        curve_delays=QUICK_CURVE_DELAYS if quick else CURVE_DELAYS,
        curve_parallelism=QUICK_CURVE_PARALLELISM if quick else CURVE_PARALLELISM,
        answer_tags=pick(args.answer_tags, 1000, 20),
        fresh_clone=not args.no_fresh_clone,
        pip_cache=bool(args.pip_cache) or quick,
    )
    return options, args


# Options that say where results go, not what is measured.
_OUTPUT_OPTIONS = ("--output", "--json", "--profile")


def reproduce_command(argv: Sequence[str]) -> str:
    """The ``make bench`` command that measures the same, without this run's output paths."""
    kept: list[str] = []
    skip = False
    for argument in argv:
        if skip:
            skip = False
        elif argument in _OUTPUT_OPTIONS:
            skip = True
        elif not argument.startswith(tuple(f"{option}=" for option in _OUTPUT_OPTIONS)):
            kept.append(argument)
    return f"make bench BENCH_ARGS={shlex.quote(shlex.join(kept))}" if kept else "make bench"


def main(argv: Sequence[str] | None = None) -> int:
    options, args = parse_args(argv)
    if args.child_memory is not None:
        spec = json.loads(Path(args.child_memory).read_text())
        print(json.dumps(child_memory(spec["host"], spec["name"], spec["tags"])))
        return 0
    missing = [
        name
        for name, found in (("docker-registry", registry_binary()), ("skopeo", skopeo_binary()))
        if not found
    ]
    if missing:
        print(f"bench: {', '.join(missing)} not installed (Debian packages)", file=sys.stderr)
        return 2
    if options.tags < options.latency_samples + 2:
        print("bench: --tags must exceed --latency-samples by 2", file=sys.stderr)
        return 2
    # The handlers log to stdout, as Lambda wants; here stdout is for the report.
    report_stream = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    results = run_benchmark(options)
    report = render(results, reproduce_command(sys.argv[1:] if argv is None else argv))
    with report_stream:
        report_stream.write(report)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(report)
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(to_json(results), indent=2, default=str))
    log(f"report written to {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
