"""Measure: single-image import latency over HTTP through ``python -m devserver``.

This module owns the local server as a user starts it (a subprocess on a
free port, one API token) and the timed requests: the first after start,
cold-cache imports of new tags, warm repeats of one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fixtures import NAMESPACE, ROOT, Repository

DEVSERVER_STARTUP = 120.0
URL_LINE = re.compile(r"listening on (http://\S+)")
# The local server prints each API token it made: "token dev-1 for bench: <token>".
TOKEN_LINE = re.compile(r"^\s*token \S+ for [^:]+: (\S+)\s*$")


def image_body(reference: str, stream: str) -> dict[str, Any]:
    """An ImageStreamImport of one image into ``stream`` (tag ``latest``)."""
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": stream},
        "spec": {
            "import": True,
            "images": [
                {"from": {"kind": "DockerImage", "name": reference}, "to": {"name": "latest"}}
            ],
        },
    }


@dataclass
class Latency:
    """Single-image imports over HTTP through ``python -m devserver``."""

    first_seconds: float
    cold_seconds: list[float]
    warm_seconds: list[float]
    startup_seconds: float


class DevServer:
    """``python -m devserver`` on a free port, as a user starts it."""

    def __init__(self, workdir: Path) -> None:
        self.url = ""
        self.token: str | None = None
        self.lines: list[str] = []
        environ = {
            **os.environ,
            "PORT": "0",
            "HTTPS_PORT": "0",
            # Certificate, tokens and kubeconfig of this run only.
            "DEVSERVER_STATE_DIR": str(workdir / "state"),
            "PYTHONUNBUFFERED": "1",
            # One API token, for the namespace the imports go to.
            "DEVSERVER_TOKENS": NAMESPACE,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        self._stderr = (workdir / "devserver.stderr").open("w")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devserver"],
            cwd=ROOT,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        if not self._ready.wait(DEVSERVER_STARTUP) or not self.url:
            self.stop()
            raise RuntimeError(f"devserver did not start:\n{self.stderr()}")
        self.startup_seconds = time.perf_counter() - started

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if not self.url and (match := URL_LINE.search(line)):
                self.url = match.group(1).rstrip("/")
            if self.token is None and (token := TOKEN_LINE.search(line)):
                self.token = token.group(1)
            if self.url and "Ctrl-C" in line:  # the banner's last line
                self._ready.set()
        self._ready.set()

    def stderr(self) -> str:
        return Path(self._stderr.name).read_text(errors="replace")[-4000:]

    def post(self, namespace: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST an ImageStreamImport; the status and the parsed answer."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"{self.url}/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamimports",
            data=json.dumps(body).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stderr.close()


def measure_latency(repository: Repository, samples: int) -> Latency:
    """First request, then cold-cache imports of new tags, then warm repeats of one."""
    singles = [tag for tag in repository.tags if repository.groups.get(tag) == "single"]
    if len(singles) < samples + 1:
        raise ValueError(f"{samples + 1} single-platform tags needed, {len(singles)} pushed")
    with tempfile.TemporaryDirectory(prefix="bench-devserver-") as scratch:
        server = DevServer(Path(scratch))
        try:

            def timed(tag: str, stream: str) -> float:
                started = time.perf_counter()
                status, body = server.post(
                    NAMESPACE, image_body(f"{repository.reference}:{tag}", stream)
                )
                seconds = time.perf_counter() - started
                image = (body.get("status", {}).get("images") or [{}])[0]
                if status != 201 or image.get("status", {}).get("status") != "Success":
                    raise RuntimeError(f"import of {tag} answered {status}: {str(body)[:2000]}")
                return seconds

            first = timed(singles[0], "first")
            cold = [timed(tag, f"cold-{i}") for i, tag in enumerate(singles[1 : samples + 1])]
            warm = [timed(singles[1], f"warm-{i}") for i in range(samples)]
        finally:
            server.stop()
    return Latency(first, cold, warm, server.startup_seconds)
