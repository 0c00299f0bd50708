"""The benchmark (``python -m bench``) runs end to end at a tiny scale.

It proves every measurement works (registry request counts, the import
against skopeo on loopback and through the latency proxy, the concurrency
curve, the answer size, the local server's latency, cold start, memory, a
fresh clone's first ``make run``) and that the report is written. Nothing
here asserts a duration or a size: only the request counts, which do not
depend on the machine, are held to DESIGN section 11; of the other figures,
only that they are there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_registry, require_skopeo

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.registry, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict[str, object]]:
    """``python -m bench --quick``: what it printed, the report and the raw figures."""
    require_registry()
    require_skopeo()
    workdir = tmp_path_factory.mktemp("bench")
    report, figures = workdir / "RESULTS.md", workdir / "results.json"
    command = ["-m", "bench", "--quick", "--output", str(report), "--json", str(figures)]
    command += ["--profile", str(workdir / "profiles")]
    result = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1400,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    profiles = sorted(path.name for path in (workdir / "profiles").iterdir())
    assert profiles == [
        f"{kind}.{ext}" for kind in ("cold", "fanout", "warm") for ext in ("html", "txt")
    ]
    return result.stdout, report.read_text(), json.loads(figures.read_text())


def test_the_report_is_printed_and_written(quick_run: tuple[str, str, dict[str, object]]) -> None:
    printed, report, _ = quick_run

    assert printed == report
    for heading in (
        "## Machine",
        "## Targets (DESIGN section 11 and the network targets)",
        "## Registry requests per imported tag",
        "## Wall time against skopeo",
        "## Across a network: through a 50 ms latency proxy",
        "### Concurrency curve",
        "## Answer size",
        "## Single-image import latency",
        "## Cold start",
        "## Peak memory",
        "## Fresh clone: time to the first answer",
    ):
        assert heading in report
    # Handler logs go to stderr, never into the report.
    assert '"level"' not in printed


def test_every_measurement_has_figures(quick_run: tuple[str, str, dict[str, object]]) -> None:
    _, _, figures = quick_run

    for key in ("skopeo_seconds", "cold_runs", "warm_runs", "fanout_runs"):
        assert figures[key], key
    assert figures["fanout_runs"][0]["status"] == 202  # type: ignore[index]
    assert figures["fanout_runs"][0]["worker_invocations"] >= 1  # type: ignore[index]
    latency = figures["latency"]
    assert isinstance(latency, dict)
    assert latency["cold_seconds"]
    assert latency["warm_seconds"]
    cold_start = figures["cold_start"]
    assert isinstance(cold_start, dict)
    assert cold_start["app_seconds"]
    assert cold_start["boto3_seconds"]
    assert cold_start["traced_seconds"]
    assert cold_start["direct_imports"]
    memory = figures["memory"]
    assert isinstance(memory, dict)
    assert memory["peak_mib"] >= memory["baseline_mib"] > 0


def test_the_network_figures_are_there(quick_run: tuple[str, str, dict[str, object]]) -> None:
    _, _, figures = quick_run
    network = figures["network"]
    assert isinstance(network, dict)

    assert network["delay"] == 0.05
    assert network["skopeo_parallelism"] == 8
    for key in ("skopeo_seconds", "cold_runs", "warm_runs", "fanout_runs"):
        assert network[key], key
    # The proxy runs in a process of its own: its CPU is counted apart.
    assert "proxy" in network["cold_runs"][0]["cpu"]
    # The forced fan-out went through the worker at the template's MaximumConcurrency
    assert network["fanout_runs"][0]["status"] == 202
    assert figures["worker_concurrency"] == 5
    # The curve has a cold import per delay and parallelism
    cells = {(point["delay"], point["parallelism"]) for point in network["curve"]}
    assert cells == {(delay, parallelism) for delay in (0.0, 0.05) for parallelism in (8, 16)}
    assert "supported_parallelism" in figures


def test_the_answer_size_and_the_first_run_are_there(
    quick_run: tuple[str, str, dict[str, object]],
) -> None:
    _, _, figures = quick_run
    answer, clone, latency = figures["answer_size"], figures["fresh_clone"], figures["latency"]
    assert isinstance(answer, dict)
    assert isinstance(clone, dict)
    assert isinstance(latency, dict)

    assert answer["labels"] >= 24
    assert answer["layers"] >= 10
    assert answer["read_bytes"] > answer["read_gzip_bytes"] > 0
    assert answer["limit_bytes"] == 6 * 1024 * 1024
    assert latency["first_seconds"] > 0
    # A figure, or the reason there is none (the package index may be out of reach)
    assert clone["first_answer_seconds"] is not None or clone["failure"]


def test_every_target_has_a_verdict(quick_run: tuple[str, str, dict[str, object]]) -> None:
    _, report, figures = quick_run
    names = [str(target["name"]) for target in figures["targets"]]  # type: ignore[attr-defined]

    for phrase in (
        "Cold import: 2 requests per new tag",
        "Warm re-import: exactly 1 HEAD and 0 GETs",
        "Loopback: repository import (default settings)",
        "Through a 50 ms proxy: cold repository import",
        "Through a 50 ms proxy: warm re-import",
        "Cold start: api module import",
        "First request after a cold start",
        "Fresh clone: `make run` installs only what running needs",
        "Peak memory",
        "within Lambda's 6 MB response limit",
    ):
        assert any(phrase in name for name in names), phrase
    for name in names:
        row = next(line for line in report.splitlines() if line.startswith(f"| {name} |"))
        assert row.endswith(("| **pass** |", "| **FAIL** |", "| reported (no target) |")), row


def test_request_counts_meet_the_design(quick_run: tuple[str, str, dict[str, object]]) -> None:
    _, _, figures = quick_run
    cold, warm = figures["anonymous_cold"], figures["anonymous_warm"]
    token_cold = figures["token_cold"]
    assert isinstance(cold, dict)
    assert isinstance(warm, dict)
    assert isinstance(token_cold, dict)

    singles = cold["tags"]["single"]
    # A new tag: its manifest GET and config GET, no HEAD first
    assert cold["counts"]["single"] == {"manifest GET": singles, "blob GET": singles}
    tags = sum(warm["tags"].values())
    heads = sum(group.get("manifest HEAD", 0) for group in warm["counts"].values())
    gets = sum(
        group.get("manifest GET", 0) + group.get("blob GET", 0) for group in warm["counts"].values()
    )
    assert (heads, gets) == (tags, 0)
    assert token_cold["counts"]["repository"]["token"] == 1
