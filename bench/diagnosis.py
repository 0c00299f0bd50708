"""Why a speed target through the latency proxy failed: the import again, profiled.

For each import kind whose ratio to skopeo misses its target (the cold
import, the warm re-import), this module runs that import once more through
a proxy at the same delay, with :class:`bench.profiling.ThreadSampler` on
every thread, and keeps: the CPU the client, the registry and the proxy
used against what the machine's CPUs could give in the wall time; the
registry requests it made, hence its latency floor (requests x delay /
parallelism); and where the threads were. It measures no figure a target
is held to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bench.cpu import CpuUse, cpu_use
from bench.fixtures import Repository, aws_stack, import_parallelism, log
from bench.imports import import_repository
from bench.machine import load_average
from bench.network import COLD_TARGET, WARM_TARGET, Network
from bench.profiling import Hotspot, ThreadSampler
from testkit.proxy import ProxyProcess
from testkit.registry import Registry

# Where the CPUs were when the wall time is at least this share of the CPU time's floor.
CPU_BOUND_SHARE = 0.8


@dataclass
class Diagnosis:
    """One failing import, run again under the sampler."""

    kind: str
    ratio: float
    target: float
    wall_seconds: float
    cpu: CpuUse
    cpus: int
    requests: int
    parallelism: int
    delay: float
    load: str
    states: dict[str, float] = field(default_factory=dict)
    leaves: list[Hotspot] = field(default_factory=list)
    anywhere: list[Hotspot] = field(default_factory=list)

    @property
    def latency_floor(self) -> float:
        """Seconds the requests take at the delay with ``parallelism`` of them at once."""
        return self.requests * self.delay / max(1, self.parallelism)

    @property
    def cpu_floor(self) -> float:
        """Seconds the CPU used takes on this machine's CPUs, were they all free."""
        return (self.cpu.own + self.cpu.registry + self.cpu.proxy) / max(1, self.cpus)

    @property
    def load_now(self) -> float:
        """The one-minute load average when the run ended."""
        try:
            return float(self.load.split()[0])
        except (IndexError, ValueError):
            return 0.0

    @property
    def reason(self) -> str:
        cpu = self.cpu
        used = (
            f"the import used {cpu.own:.1f} s of CPU in this process (handlers, moto), "
            f"the registry {cpu.registry:.1f} s and the proxy {cpu.proxy:.1f} s: "
            f"{self.cpu_floor * self.cpus / self.wall_seconds:.2f} of {self.cpus} CPUs on "
            f"average over the {self.wall_seconds:.1f} s wall time, {self.cpu_floor:.1f} s "
            "were they all its own"
        )
        floor = (
            f"the requests alone take {self.latency_floor:.1f} s "
            f"({self.requests} x {self.delay * 1000:.0f} ms / {self.parallelism} at once)"
        )
        if self.cpu_floor >= CPU_BOUND_SHARE * self.wall_seconds:
            return f"CPU-bound: {used}; {floor}."
        if self.load_now >= self.cpus:
            return (
                f"Short of CPU on a shared machine: {used}, while the load average was "
                f"{self.load} on {self.cpus} CPUs, the rest going to other work; {floor}."
            )
        return f"Waiting, not CPU-bound: {floor}; {used}."


def diagnose_failures(
    registry: Registry, repository: Repository, network: Network
) -> list[Diagnosis]:
    """Run each import kind that missed its target again through the proxy, sampled."""
    found: list[Diagnosis] = []
    failing = [
        (kind, network.ratio(runs), target)
        for kind, runs, target in (
            ("cold", network.cold_runs, COLD_TARGET),
            ("warm", network.warm_runs, WARM_TARGET),
        )
        if runs and network.skopeo_seconds and network.ratio(runs) < target
    ]
    if not failing:
        return found
    with ProxyProcess(registry.host, delay=network.delay) as proxy, aws_stack() as stack:
        proxied = repository.via(proxy.host)
        warmed = False
        for kind, ratio, target in failing:
            if kind == "warm" and not warmed:
                log("diagnosis: a cold import to warm the cache")
                import_repository(stack, proxied)
            log(f"diagnosis: the {kind} import through the proxy, every thread sampled")
            mark = registry.access_log_mark()
            with ThreadSampler() as sampler, cpu_use(registry, proxy.pid) as used:
                run = import_repository(stack, proxied)
            warmed = True
            found.append(
                Diagnosis(
                    kind=kind,
                    ratio=ratio,
                    target=target,
                    wall_seconds=run.seconds,
                    cpu=used,
                    cpus=os.cpu_count() or 1,
                    requests=len(registry.access_log(since=mark)),
                    parallelism=import_parallelism(),
                    delay=network.delay,
                    load=load_average(),
                    states=sampler.shares(),
                    leaves=sampler.top(sampler.leaves),
                    anywhere=sampler.top(sampler.anywhere),
                )
            )
    return found
