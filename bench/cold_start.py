"""Measure: cold start, the api handler's import time against a bare ``import boto3``.

This module owns the fresh-process imports (``python -I``, the layer on
``sys.path`` as Lambda puts it, the api function's variables as the template
resolves them) and the attribution of the import time from ``python -X
importtime``. The handler is measured twice: as deployed by default (metrics
on, tracing off), and with the template's ``Tracing=Active``, where what the
first invocation builds (Powertools' Tracer: the X-Ray SDK, botocore
patched) counts too. Both snippets end with that first use, a no-op when
tracing is off.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.fixtures import API_FUNCTION, ROOT, TEMPLATE, median
from devserver.template import TemplateError, load_template

LAYER_DIR = ROOT / "layers" / "imagestreams"
API_DIR = ROOT / "functions" / "api"


IMPORT_APP = (
    "import sys, time; sys.path[:0] = [{layer!r}, {function!r}]; "
    "started = time.perf_counter(); import app; "
    "from imagestreams.observability import tracer; tracer.tracer(); "
    "print(time.perf_counter() - started)"
)
IMPORT_BOTO3 = (
    "import time; started = time.perf_counter(); import boto3; print(time.perf_counter() - started)"
)


def lambda_like_environment(tracing: str = "Disabled") -> dict[str, str]:
    """The api function's variables, fake credentials, and nothing of this shell.

    ``tracing`` is the template's ``Tracing`` parameter. Variables naming a
    resource are left out: the handler finds those at its first request.
    """
    template = dataclasses.replace(
        load_template(TEMPLATE), parameter_overrides={"Tracing": tracing}
    )
    values = template.intrinsics()
    variables = {}
    for name, value in template.function_environment(API_FUNCTION).items():
        try:
            resolved = values.resolve(value)
        except TemplateError:
            continue
        if isinstance(resolved, str | int | float):
            variables[name] = str(resolved)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # Lambda sets it; Powertools traces only where it is set.
        "LAMBDA_TASK_ROOT": str(API_DIR),
        **variables,
    }


def timed_import(code: str, environ: Mapping[str, str]) -> float:
    """Seconds the snippet ``code`` reports, run in a fresh isolated interpreter."""
    result = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(environ),
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"import failed:\n{result.stderr[-3000:]}")
    return float(result.stdout.strip().splitlines()[-1])


@dataclass
class ImportCost:
    """One entry of ``-X importtime``: a package's own time and with what it imports."""

    name: str
    self_ms: float
    cumulative_ms: float


@dataclass
class ColdStart:
    """Import times of the api handler module and of ``boto3``, fresh processes.

    ``app_seconds`` as deployed by default (metrics on, tracing off);
    ``traced_seconds`` with tracing on.
    """

    app_seconds: list[float]
    boto3_seconds: list[float]
    direct_imports: list[ImportCost]
    packages: list[ImportCost]
    imports_boto3: bool
    traced_seconds: list[float] = dataclasses.field(default_factory=list)

    @property
    def ratio(self) -> float:
        return median(self.app_seconds) / median(self.boto3_seconds)

    @property
    def traced_ratio(self) -> float | None:
        if not self.traced_seconds:
            return None
        return median(self.traced_seconds) / median(self.boto3_seconds)


def parse_importtime(text: str) -> list[tuple[int, str, int, int]]:
    """``-X importtime`` lines as (depth, module, self µs, cumulative µs)."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)", line)
        if match:
            depth = len(match.group(3)) // 2
            rows.append((depth, match.group(4), int(match.group(1)), int(match.group(2))))
    return rows


def import_subtree(
    rows: Sequence[tuple[int, str, int, int]], module: str
) -> list[tuple[int, str, int, int]]:
    """The rows of what importing ``module`` imported (``module`` itself excluded).

    ``-X importtime`` prints a module after everything it imports: its subtree
    is the run of deeper rows just before it.
    """
    index = next((i for i, row in enumerate(rows) if row[1] == module), None)
    if index is None:
        return []
    depth = rows[index][0]
    start = index
    while start > 0 and rows[start - 1][0] > depth:
        start -= 1
    return list(rows[start:index])


def measure_cold_start(samples: int) -> ColdStart:
    """Alternate fresh-process imports of the handler (untraced, traced) and of boto3.

    Then attribute the untraced handler's cost.
    """
    environ = lambda_like_environment()
    traced = lambda_like_environment("Active")
    app_code = IMPORT_APP.format(layer=str(LAYER_DIR), function=str(API_DIR))
    # Once each unmeasured, so all read compiled bytecode and a warm page cache.
    timed_import(app_code, environ)
    timed_import(app_code, traced)
    timed_import(IMPORT_BOTO3, environ)
    app_times, traced_times, boto3_times = [], [], []
    for _ in range(samples):
        app_times.append(timed_import(app_code, environ))
        traced_times.append(timed_import(app_code, traced))
        boto3_times.append(timed_import(IMPORT_BOTO3, environ))
    profile = subprocess.run(
        [
            sys.executable,
            "-I",
            "-X",
            "importtime",
            "-c",
            app_code + "; import sys; print('boto3' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        cwd=ROOT,
        check=False,
    )
    rows = parse_importtime(profile.stderr)
    imports_boto3 = profile.stdout.strip().splitlines()[-1:] == ["True"]
    subtree = import_subtree(rows, "app")
    top = min((depth for depth, _, _, _ in subtree), default=0)
    direct = [
        ImportCost(name, own / 1000, cumulative / 1000)
        for depth, name, own, cumulative in subtree
        if depth == top and cumulative >= 1000
    ]
    by_package: dict[str, int] = {}
    for _, name, own, _ in subtree:
        root = name.split(".")[0]
        by_package[root] = by_package.get(root, 0) + own
    packages = sorted(
        (ImportCost(name, own / 1000, own / 1000) for name, own in by_package.items()),
        key=lambda cost: -cost.self_ms,
    )
    return ColdStart(
        app_seconds=app_times,
        boto3_seconds=boto3_times,
        direct_imports=sorted(direct, key=lambda cost: -cost.cumulative_ms)[:8],
        packages=packages[:8],
        imports_boto3=imports_boto3,
        traced_seconds=traced_times,
    )
