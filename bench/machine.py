"""What the figures were measured on: CPUs, memory, OS, load, tool versions, commit.

This module owns the report's "Machine" facts; it reads ``/proc``, ``/etc``
and the tools' ``--version``, and changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fixtures import ROOT
from testkit.images import skopeo_binary
from testkit.registry import registry_binary


def command_output(args: Sequence[str]) -> str:
    """The first line a command prints, or ``"not installed"``."""
    if shutil.which(args[0]) is None:
        return "not installed"
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        return "?"
    return (result.stdout or result.stderr).strip().splitlines()[0]


@dataclass(frozen=True)
class Machine:
    """What the figures were measured on."""

    cpus: int
    cpu_model: str
    memory_gib: float
    os: str
    load: str
    python: str
    registry: str
    skopeo: str
    code: str

    @classmethod
    def describe(cls) -> Machine:
        cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
        total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
        registry = registry_binary() or "docker-registry"
        return cls(
            cpus=os.cpu_count() or 0,
            cpu_model=model.group(1).strip() if model else platform.processor() or "unknown",
            memory_gib=round(int(total.group(1)) / 1024 / 1024, 1) if total else 0.0,
            os=_os_name(),
            load=load_average(),
            python=platform.python_version(),
            registry=command_output([registry, "--version"]).replace(registry, "docker-registry"),
            skopeo=command_output([skopeo_binary() or "skopeo", "--version"]),
            code=code_revision(),
        )


def code_revision() -> str:
    """The commit measured, marked when the work tree had changes."""
    if shutil.which("git") is None:
        return "unknown"
    result = subprocess.run(
        ["git", "describe", "--always", "--dirty=+changes"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def _os_name() -> str:
    release = Path("/etc/os-release")
    if release.exists():
        found = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', release.read_text(), re.MULTILINE)
        if found:
            return f"{found.group(1)} (Linux {platform.release()})"
    return platform.platform()
