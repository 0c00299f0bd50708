"""The benchmark (``python -m bench``) runs end to end at a tiny scale.

It proves every measurement works (registry request counts, the import
against skopeo, the local server's latency, cold start, memory) and that the
report is written. Nothing here asserts a duration: only the request counts,
which do not depend on the machine, are held to DESIGN section 11.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_registry, require_skopeo

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.registry]


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
        timeout=240,
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
        "## Targets (DESIGN section 11)",
        "## Registry requests per imported tag",
        "## Wall time against skopeo",
        "## Single-image import latency",
        "## Cold start",
        "## Peak memory",
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
    assert len(figures["targets"]) == 6  # type: ignore[arg-type]


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
