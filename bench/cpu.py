"""CPU seconds a measurement costs: this process, its ended children, the registry, the proxy.

This module owns the CPU accounting of the wall-time measures; on a machine
with few cores the registry competes with the handlers for the CPUs, so its
share is reported next to theirs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from testkit.registry import Registry


def pid_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a running process has used so far."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children that have ended (the skopeo runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuUse:
    """CPU seconds spent during one measurement, by whom.

    ``own`` is this process: the handlers, their threads and moto. On a
    machine with few cores the registry (and the latency proxy, when one is
    between them) competes with them for the CPUs.
    """

    own: float = 0.0
    children: float = 0.0
    registry: float = 0.0
    proxy: float = 0.0


@contextlib.contextmanager
def cpu_use(registry: Registry, proxy_pid: int | None = None) -> Iterator[CpuUse]:
    """Measure the CPU this process, its children, the registry and the proxy use meanwhile."""
    use = CpuUse()
    own, children = time.process_time(), children_cpu_seconds()
    registry_before = pid_cpu_seconds(registry.process.pid)
    proxy_before = pid_cpu_seconds(proxy_pid) if proxy_pid else 0.0
    try:
        yield use
    finally:
        use.own = time.process_time() - own
        use.children = children_cpu_seconds() - children
        use.registry = pid_cpu_seconds(registry.process.pid) - registry_before
        use.proxy = pid_cpu_seconds(proxy_pid) - proxy_before if proxy_pid else 0.0
