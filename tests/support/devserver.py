"""``python -m devserver`` as a test starts it: a real process on free ports, its own state.

:func:`start_devserver` runs the server as a user would (``PORT`` and
``HTTPS_PORT`` in the environment, 0 so it picks free ports and prints
them), in a state directory of the test's (never the project's
``.devserver``), and waits until it has printed its URLs and dev tokens.
:class:`RunningServer` holds what it printed and stops it with Ctrl-C
(SIGINT).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from devserver.__main__ import LOCAL_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
# How long a background effect (a re-import, ...) may take to show.
WAIT_TIMEOUT = 60.0
# "ImageStreamImport API listening on http://127.0.0.1:1234 and https://127.0.0.1:5678"
URL_LINE = re.compile(r"listening on (http://\S+) and (https://\S+)")
# "  token dev-1 for demo,team-a: <token>"
TOKEN_LINE = re.compile(r"^\s+token (\S+) for (\S+): (\S+)$")
# "  webhook secret imagestreams/webhook-secret: <secret>"
WEBHOOK_SECRET_LINE = re.compile(r"^\s+webhook secret (\S+): (\S+)$", re.MULTILINE)
# "  kubeconfig: <path> (a context per token; ...)"
KUBECONFIG_LINE = re.compile(r"^\s+kubeconfig: (\S+) ", re.MULTILINE)


@dataclass
class RunningServer:
    """A ``python -m devserver`` process and what it printed."""

    process: subprocess.Popen[str]
    stderr_path: Path
    state_dir: Path
    url: str = ""
    https_url: str = ""
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stdout: list[str] = field(default_factory=list)
    # The printed dev tokens, by the namespaces they grant ("demo", "team-a,team-b", "*").
    tokens: dict[str, str] = field(default_factory=dict)
    # The printed subjects of the dev tokens, by the namespaces they grant.
    subjects: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str:
        """The token that may use the ``demo`` namespace."""
        return next(t for grant, t in self.tokens.items() if {"demo", "*"} & set(grant.split(",")))

    @property
    def kubeconfig(self) -> Path:
        """The kubeconfig the server wrote, as it printed its path."""
        found = KUBECONFIG_LINE.search(self.printed())
        assert found, self.printed()
        return Path(found.group(1))

    @property
    def certificate(self) -> Path:
        """The HTTPS port's self-signed certificate (PEM), in the state directory."""
        return self.state_dir / "tls" / "cert.pem"

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> int:
        """Ctrl-C, then wait for the process; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        self._drain(until_eof=True)
        return code

    def printed(self) -> str:
        """Everything printed on stdout so far."""
        self._drain(until_eof=False)
        return "".join(self.stdout)

    def webhook_secret(self) -> str:
        """The webhook secret the server printed at start."""
        found = wait_for(lambda: WEBHOOK_SECRET_LINE.search(self.printed()), STARTUP_TIMEOUT)
        return str(found.group(2))

    def _drain(self, *, until_eof: bool) -> None:
        while True:
            try:
                line = self.lines.get(timeout=STOP_TIMEOUT if until_eof else 0.01)
            except queue.Empty:
                return
            if line is None:
                self.lines.put(None)  # later drains end at once
                return
            self.stdout.append(line)


def wait_for(
    probe: Callable[[], Any], timeout: float = WAIT_TIMEOUT, interval: float = 0.25
) -> Any:
    """``probe()``'s first true answer; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {timeout} s; last answer: {answer!r}")
        time.sleep(interval)


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def devserver_environment(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment a test's server runs in: free ports, a state directory in ``workdir``.

    The address policy is the server's default unless ``extra`` sets it;
    ``extra`` may set ``DEVSERVER_STATE_DIR`` to share state between starts.
    """
    inherited = {k: v for k, v in os.environ.items() if k not in LOCAL_DEFAULTS}
    return {
        **inherited,
        "DEVSERVER_STATE_DIR": str(workdir / "state"),
        **extra,
        "PORT": "0",
        "HTTPS_PORT": "0",
        "PYTHONUNBUFFERED": "1",
        # Only moto may answer: a leaked real credential must not matter.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def start_devserver(workdir: Path, **extra: str) -> RunningServer:
    """Start the server on free ports; wait until it prints its URLs and dev tokens."""
    environ = devserver_environment(workdir, **extra)
    stderr_path = workdir / f"devserver-{time.monotonic_ns()}.stderr"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "devserver"],
            cwd=ROOT,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    server = RunningServer(process, stderr_path, Path(environ["DEVSERVER_STATE_DIR"]))
    threading.Thread(target=_pump, args=(process.stdout, server.lines), daemon=True).start()
    while True:
        try:
            line = server.lines.get(timeout=STARTUP_TIMEOUT)
        except queue.Empty:
            server.stop()
            pytest.fail(f"devserver printed no URL in {STARTUP_TIMEOUT} s:\n{server.stderr()}")
        if line is None:
            code = process.wait()
            pytest.fail(f"devserver exited with {code} before it was ready:\n{server.stderr()}")
        server.stdout.append(line)
        if found := URL_LINE.search(line):
            server.url, server.https_url = found.group(1), found.group(2)
        elif found := TOKEN_LINE.match(line.rstrip("\n")):
            server.subjects[found.group(2)] = found.group(1)
            server.tokens[found.group(2)] = found.group(3)
        elif server.url and server.tokens:
            # The token lines are done: the server is listening and usable.
            return server


def import_stream(server: RunningServer, name: str, image: str) -> dict[str, Any]:
    """Import ``image`` into the stream ``name`` of namespace demo, over HTTPS."""
    body = {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": name},
        "spec": {"import": True, "images": [{"from": {"kind": "DockerImage", "name": image}}]},
    }
    request = urllib.request.Request(
        server.https_url + "/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=str(server.certificate))
    with urllib.request.urlopen(request, timeout=60, context=context) as response:
        assert response.status == 201
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def dynamic_client(server: RunningServer, context: str | None = None) -> Any:
    """The Python ``kubernetes`` client's ``DynamicClient`` on the server's kubeconfig."""
    from kubernetes import config, dynamic

    return dynamic.DynamicClient(
        config.new_client_from_config(config_file=str(server.kubeconfig), context=context)
    )
