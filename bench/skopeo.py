"""Measure: the peer, ``skopeo inspect`` of every tag, so many at a time.

This module owns the skopeo runs: each in a scratch directory, away from any
login state of the machine, against the same registry the imports read (on
loopback, or through the same latency proxy).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.fixtures import Repository
from testkit.images import skopeo_binary

SKOPEO_TIMEOUT = 120.0


def skopeo_loop(repository: Repository, parallelism: int) -> float:
    """Seconds for ``skopeo inspect`` of every tag, ``parallelism`` at a time."""
    binary = skopeo_binary()
    if binary is None:
        raise RuntimeError("skopeo is not installed")
    with tempfile.TemporaryDirectory(prefix="bench-skopeo-") as scratch:
        # Keep skopeo away from any login state of the machine.
        environ = {
            **os.environ,
            "REGISTRY_AUTH_FILE": str(Path(scratch) / "auth.json"),
            "TMPDIR": scratch,
        }

        def inspect(tag: str) -> None:
            reference = f"docker://{repository.reference}:{tag}"
            result = subprocess.run(
                [binary, "inspect", "--tls-verify=false", reference],
                capture_output=True,
                text=True,
                timeout=SKOPEO_TIMEOUT,
                env=environ,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"skopeo inspect {reference} failed: {result.stderr[-2000:]}")

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            list(pool.map(inspect, repository.tags))
        return time.perf_counter() - started
