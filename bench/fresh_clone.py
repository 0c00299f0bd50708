"""Measure: a newcomer's first ``make run``, from a fresh clone to the first HTTP answer.

This module owns that run: ``git clone`` of this repository's commit into a
scratch directory, then ``make run`` there with nothing of this shell's
Python set up (no virtualenv, no ``PYTHONPATH``) and, unless told, no pip
cache, as on a machine that never installed the project; the time is from
``make run`` until the local server answers an authenticated request. It
needs the package index: when the run fails the reason is kept instead of a
figure. What the new virtualenv holds afterwards says whether ``make run``
stayed out of the development toolchain.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.fixtures import ROOT
from bench.latency import TOKEN_LINE, URL_LINE

FIRST_ANSWER_TIMEOUT = 900.0
# Development tools `make run` must not install (their distribution names).
DEVELOPMENT_TOOLS = ("aws-sam-cli", "mypy", "ruff", "cfn-lint", "pytest")
# Of this shell's environment, what would point the clone at this checkout's Python.
_NOT_INHERITED = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")


@dataclass
class FreshClone:
    """``make run`` on a fresh clone: seconds to the first answer, or why there is none."""

    commit: str
    pip_cache: bool
    clone_seconds: float = 0.0
    install_seconds: float | None = None  # until the virtualenv's install stamp appears
    first_answer_seconds: float | None = None
    answer_status: int | None = None
    packages: list[str] = field(default_factory=list)
    failure: str = ""

    @property
    def development_tools(self) -> list[str]:
        """The development tools the run installed (none, as it should)."""
        installed = {package.split("==")[0].lower() for package in self.packages}
        return [tool for tool in DEVELOPMENT_TOOLS if tool in installed]


def head_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def measure_fresh_clone(*, pip_cache: bool = False, commit: str | None = None) -> FreshClone:
    """Clone this commit (or ``commit``), ``make run`` it, and time the first answer.

    On failure the reason is kept instead of the time.
    """
    commit = commit or head_commit()
    measured = FreshClone(commit=commit[:12], pip_cache=pip_cache)
    with tempfile.TemporaryDirectory(prefix="bench-clone-") as scratch:
        clone = Path(scratch) / "imagestreams"
        started = time.perf_counter()
        cloned = subprocess.run(
            ["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)],
            capture_output=True,
            text=True,
            check=False,
        )
        if cloned.returncode == 0:
            cloned = subprocess.run(
                ["git", "-C", str(clone), "checkout", "--quiet", commit],
                capture_output=True,
                text=True,
                check=False,
            )
        measured.clone_seconds = time.perf_counter() - started
        if cloned.returncode != 0:
            measured.failure = f"git clone failed: {cloned.stderr.strip()[-500:]}"
            return measured
        _first_make_run(clone, Path(scratch), measured)
    return measured


def _first_make_run(clone: Path, scratch: Path, measured: FreshClone) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    environ.update(
        PORT="0",
        HTTPS_PORT="0",
        DEVSERVER_STATE_DIR=str(scratch / "state"),
        PYTHONUNBUFFERED="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    if not measured.pip_cache:
        environ["PIP_NO_CACHE_DIR"] = "1"
    log_path = scratch / "make-run.log"
    stamp_seen: list[float] = []
    found: dict[str, str] = {}
    ready = threading.Event()
    started = time.perf_counter()
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: make, pip, the server
        )

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                log_file.write(line)
                if not stamp_seen and list(clone.glob(".venv/.installed*")):
                    stamp_seen.append(time.perf_counter() - started)
                if "url" not in found and (match := URL_LINE.search(line)):
                    found["url"] = match.group(1).rstrip("/")
                if "token" not in found and (token := TOKEN_LINE.search(line)):
                    found["token"] = token.group(1)
                if "url" in found and "Ctrl-C" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        try:
            ready.wait(FIRST_ANSWER_TIMEOUT)
            if "url" not in found:
                measured.failure = _why(process, log_path)
                return
            try:
                status = _first_answer(found["url"], found.get("token"), started)
            except TimeoutError:
                measured.failure = f"the server at {found['url']} never answered"
                return
            measured.first_answer_seconds = time.perf_counter() - started
            measured.answer_status = status
            measured.install_seconds = stamp_seen[0] if stamp_seen else None
        finally:
            _stop(process)
    measured.packages = _installed(clone)


def _first_answer(url: str, token: str | None, started: float) -> int:
    """The status of the first answer to a list of the demo namespace's image streams."""
    request = urllib.request.Request(
        f"{url}/apis/image.openshift.io/v1/namespaces/demo/imagestreams",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    while time.perf_counter() - started < FIRST_ANSWER_TIMEOUT:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("no answer")


def _why(process: subprocess.Popen[str], log_path: Path) -> str:
    state = "still running" if process.poll() is None else f"exited {process.returncode}"
    tail = log_path.read_text(errors="replace").strip().splitlines()[-12:]
    return f"`make run` {state} without serving: " + " / ".join(tail)[-1500:]


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _installed(clone: Path) -> list[str]:
    python = clone / ".venv" / "bin" / "python"
    if not python.exists():
        return []
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        return []
    return sorted(f"{p['name']}=={p['version']}" for p in json.loads(listed.stdout))
