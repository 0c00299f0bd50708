"""Measure: peak memory (RSS) of a cold repository import, in a fresh process holding moto.

This module owns both sides: :func:`measure_memory` starts ``python -m bench
--child-memory`` and :func:`child_memory` is what that child runs (the
command line in :mod:`bench.__main__` is its only caller).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fixtures import ROOT, Repository, aws_stack, function_environment
from bench.imports import import_repository
from testkit.api import Api, load_function

CHILD_TIMEOUT = 1800.0


def read_status(field_name: str) -> int:
    """A ``/proc/self/status`` field in KiB (0 where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS of this process (VmHWM) to its current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples this process's RSS every few milliseconds; keeps the largest."""

    def __init__(self, interval: float = 0.005) -> None:
        self.peak_kib = read_status("VmRSS")
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_kib = max(self.peak_kib, read_status("VmRSS"))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, read_status("VmRSS"))


def child_memory(host: str, name: str, tags: Sequence[str]) -> dict[str, Any]:
    """In this (fresh) process: one cold repository import; its peak RSS."""
    repository = Repository(host, name, list(tags))
    with aws_stack() as stack:
        # Load both handlers once first, so the baseline holds what a warm
        # Lambda process holds before its first request.
        with function_environment(stack.api):
            Api(reset=False)
        load_function("worker")
        baseline = read_status("VmRSS")
        exact = reset_peak_rss()
        with RssSampler() as sampler:
            run = import_repository(stack, repository)
        hwm = read_status("VmHWM")
    return {
        "baseline_mib": baseline / 1024,
        "peak_mib": (hwm if exact else sampler.peak_kib) / 1024,
        "sampled_peak_mib": sampler.peak_kib / 1024,
        "exact": exact,
        "process_max_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "status": run.status,
        "seconds": run.seconds,
    }


@dataclass
class Memory:
    """Peak RSS of a cold repository import in a fresh process holding moto."""

    baseline_mib: float
    peak_mib: float
    sampled_peak_mib: float
    exact: bool
    process_max_mib: float
    status: int
    seconds: float


def measure_memory(repository: Repository) -> Memory:
    """Run :func:`child_memory` in a new Python process."""
    argument = json.dumps(
        {"host": repository.host, "name": repository.name, "tags": repository.tags}
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(argument)
        path = handle.name
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bench", "--child-memory", path],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            cwd=ROOT,
            check=False,
        )
    finally:
        os.unlink(path)
    if result.returncode != 0:
        raise RuntimeError(f"the memory run failed:\n{result.stderr[-4000:]}")
    return Memory(**json.loads(result.stdout.strip().splitlines()[-1]))
