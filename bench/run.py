"""The benchmark behind DESIGN section 11: ``make bench`` (``python bench/run.py``).

Everything runs on one machine, without network: a real ``docker-registry``
on loopback holds a repository of ``--tags`` tags (distinct single-platform
images sharing their layers, plus a few multi-arch images), AWS is moto with
the tables and queues of ``template.yaml``, and imports go through the real
handlers (``functions/api/app.py``; ``functions/worker/app.py`` fed from the
queue by ``devserver.queues.drain``). It measures:

- registry requests per imported tag, by method and kind of path, for a cold
  import and a warm re-import (a new handler process, the same tables, so
  the image cache is warm), on an anonymous registry and on one with token
  auth (the amortized auth);
- the wall time of the repository import, fan-out included, against
  ``skopeo inspect`` run once per tag with the same parallelism, in the same
  run (median of ``--runs``);
- single-image import latency through ``python -m devserver`` over HTTP,
  cold and warm cache;
- cold start: importing the api handler module against a bare ``import
  boto3``, each in fresh processes, and what the import time goes to;
- peak memory (RSS) of the repository import, in a fresh process that also
  holds moto.

The results are printed and written to ``bench/RESULTS.md`` (``--output``);
``--json`` writes the raw figures. ``--quick`` runs every measurement at a
tiny scale (the test suite uses it). The process itself is the only
``--child-*`` caller.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # Run as a script, the bench sees only its own folder; the helpers live in
    # the project's packages.
    sys.path.insert(0, str(ROOT))

from devserver.queues import drain, invoker  # noqa: E402
from devserver.template import load_template  # noqa: E402
from imagestreams import bootstrap  # noqa: E402
from imagestreams.config import Settings  # noqa: E402
from testkit.api import Api, load_function  # noqa: E402
from testkit.aws import create_template_resources, fake_credentials, mocked_aws  # noqa: E402
from testkit.events import load_event, with_name, with_namespace  # noqa: E402
from testkit.images import (  # noqa: E402
    build_index,
    push_many_tags,
    push_with_api,
    random_layer,
    sha256_digest,
    skopeo_binary,
)
from testkit.registry import (  # noqa: E402
    AccessLogEntry,
    Registry,
    registry_binary,
    start_anonymous_registry,
    start_token_registry,
)

TEMPLATE = ROOT / "template.yaml"
LAYER_DIR = ROOT / "layers" / "imagestreams"
API_DIR = ROOT / "functions" / "api"
DEFAULT_OUTPUT = ROOT / "bench" / "RESULTS.md"
REPOSITORY = "bench/app"
NAMESPACE = "bench"
STREAM = "app"
API_FUNCTION = "ApiFunction"
WORKER_FUNCTION = "WorkerFunction"
# The local server's one change to the template's settings: registries on
# loopback must be reachable.
LOCAL_OVERRIDES = {"ALLOW_PRIVATE_REGISTRIES": "true"}
# The forced fan-out: the api imports inline for this share of its 20 s budget
# only (2 ms, less than listing the tags takes), so every tag goes through the
# queue and the worker.
FANOUT_INLINE_FRACTION = "0.0001"
FANOUT_OVERRIDES = {"INLINE_FRACTION": FANOUT_INLINE_FRACTION}
DRAIN_TIMEOUT = 1800.0
SKOPEO_TIMEOUT = 120.0
CHILD_TIMEOUT = 1800.0
DEVSERVER_STARTUP = 120.0
URL_LINE = re.compile(r"listening on (http://\S+)")
# The local server prints each API token it made: "token dev-1 for bench: <token>".
TOKEN_LINE = re.compile(r"^\s*token \S+ for [^:]+: (\S+)\s*$")
JOB_STATE = "imagestreams.io/import-state"
TAGS_DONE = "imagestreams.io/import-tags-done"
TAGS_FAILED = "imagestreams.io/import-tags-failed"

# Kinds of registry request, in report order.
KINDS = ("manifest HEAD", "manifest GET", "blob GET", "tags/list", "ping", "token", "401")


# --------------------------------------------------------------------------- small helpers


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return float(statistics.median(values)) if values else float("nan")


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the report."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


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


# --------------------------------------------------------------------------- the repository


@dataclass
class Repository:
    """The pushed repository and which tag group each manifest or blob belongs to."""

    host: str
    name: str
    tags: list[str]
    groups: dict[str, str] = field(default_factory=dict)  # tag or digest -> "single"/"multi"

    @property
    def reference(self) -> str:
        return f"{self.host}/{self.name}"

    def count(self, group: str) -> int:
        return sum(1 for tag in self.tags if self.groups.get(tag) == group)


def push_repository(registry: Registry, tags: int, multiarch: int) -> Repository:
    """Push ``tags`` tags: ``multiarch`` of them multi-arch, the rest single-platform.

    Every image shares the same layers; each single-platform tag has its own
    config (so its own manifest digest), as ``push_many_tags(unique="config")``
    builds them.
    """
    multiarch = min(multiarch, max(0, tags - 1))
    layers = [random_layer(), random_layer()]
    pushed = push_many_tags(
        registry, REPOSITORY, tags - multiarch, unique="config", shared_layers=layers, workers=8
    )
    repository = Repository(registry.host, REPOSITORY, [p.tag for p in pushed])
    for push in pushed:
        for key in (push.tag, push.digest, push.config_digest):
            repository.groups[key] = "single"
    for index in range(multiarch):
        tag = f"multi-{index}"
        image = build_index(layers=layers)
        push_with_api(registry, REPOSITORY, tag, image, describe_result=False)
        repository.tags.append(tag)
        repository.groups[tag] = "multi"
        repository.groups[sha256_digest(image.manifest("oci")[0])] = "multi"
        for child in image.images:
            repository.groups[sha256_digest(child.manifest("oci")[0])] = "multi"
            repository.groups[child.config.digest] = "multi"
    return repository


# --------------------------------------------------------------------------- request counts


def request_kind(method: str, path: str, status: int) -> str | None:
    """The kind of a registry request, as the report groups them."""
    if status == 401:
        return "401"
    if path.rstrip("/") == "/v2":
        return "ping"
    if "/tags/list" in path:
        return "tags/list"
    if "/manifests/" in path and method in ("GET", "HEAD"):
        return f"manifest {method}"
    if "/blobs/" in path and method == "GET":
        return "blob GET"
    return None


def group_of(path: str, repository: Repository) -> str:
    """Which tag group a request served: ``single``, ``multi`` or ``repository``."""
    if "/manifests/" in path or "/blobs/" in path:
        return repository.groups.get(path.rsplit("/", 1)[-1], "other")
    return "repository"


@dataclass
class RequestCounts:
    """Registry requests of one import, by tag group and kind."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)

    @classmethod
    def collect(
        cls, entries: Sequence[AccessLogEntry], repository: Repository, tokens: int = 0
    ) -> RequestCounts:
        counted: dict[str, Counter[str]] = {}
        for entry in entries:
            kind = request_kind(entry.method, entry.path, entry.status)
            if kind is None:
                continue
            group = "repository" if kind == "401" else group_of(entry.path, repository)
            counted.setdefault(group, Counter())[kind] += 1
        if tokens:
            counted.setdefault("repository", Counter())["token"] += tokens
        return cls(
            counts={group: dict(counter) for group, counter in counted.items()},
            tags={"single": repository.count("single"), "multi": repository.count("multi")},
        )

    def total(self, kind: str, groups: Sequence[str] = ("single", "multi", "repository")) -> int:
        return sum(self.counts.get(group, {}).get(kind, 0) for group in groups)

    def per_tag(self, kind: str, group: str) -> float:
        """Requests of ``kind`` per tag of ``group`` (``all``: every request, every tag)."""
        if group == "all":
            tags = sum(self.tags.values())
            return self.total(kind) / tags if tags else 0.0
        tags = self.tags.get(group, 0)
        return self.counts.get(group, {}).get(kind, 0) / tags if tags else 0.0


# --------------------------------------------------------------------------- CPU


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
    machine with few cores the registry competes with them for the CPUs.
    """

    own: float = 0.0
    children: float = 0.0
    registry: float = 0.0


@contextlib.contextmanager
def cpu_use(registry: Registry) -> Iterator[CpuUse]:
    """Measure the CPU this process, its children and the registry use meanwhile."""
    use = CpuUse()
    own, children = time.process_time(), children_cpu_seconds()
    registry_before = pid_cpu_seconds(registry.process.pid)
    try:
        yield use
    finally:
        use.own = time.process_time() - own
        use.children = children_cpu_seconds() - children
        use.registry = pid_cpu_seconds(registry.process.pid) - registry_before


# --------------------------------------------------------------------------- AWS and handlers


@contextlib.contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """One function's environment for the duration; a fresh composition root around it.

    ``bootstrap.reset()`` on entry and exit stands for a new Lambda process:
    settings, connection pools, tokens and clients are built again.
    """
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    bootstrap.reset()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        bootstrap.reset()


@dataclass
class Stack:
    """The template's tables and queues in a moto mock, and each function's environment."""

    api: dict[str, str]
    worker: dict[str, str]
    worker_timeout: int
    worker_memory_mb: int

    @property
    def queue_url(self) -> str:
        return self.api["IMPORT_QUEUE_URL"]


@contextlib.contextmanager
def aws_stack() -> Iterator[Stack]:
    """moto with fake credentials and the template's resources, for the duration."""
    fake_credentials(os.environ)
    with mocked_aws() as session:
        created = create_template_resources(session)
        template = created.template
        yield Stack(
            api={**created.environment(API_FUNCTION), **LOCAL_OVERRIDES},
            worker={**created.environment(WORKER_FUNCTION), **LOCAL_OVERRIDES},
            worker_timeout=int(template.function_property(WORKER_FUNCTION, "Timeout", 3)),
            worker_memory_mb=int(template.function_property(WORKER_FUNCTION, "MemorySize", 128)),
        )


def repository_body(reference: str, stream: str = STREAM) -> dict[str, Any]:
    """An ImageStreamImport of every tag of ``reference`` into ``stream``."""
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": stream},
        "spec": {
            "import": True,
            "repository": {"from": {"kind": "DockerImage", "name": reference}},
        },
    }


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
class ImportRun:
    """One repository import through the handlers, fan-out included."""

    status: int
    seconds: float
    api_seconds: float
    inline_tags: int
    worker_invocations: int
    tags_done: int
    tags_failed: int
    state: str
    cpu: CpuUse | None = None


class BenchError(RuntimeError):
    """An import the benchmark ran did not complete as expected."""


def import_repository(
    stack: Stack,
    repository: Repository,
    overrides: Mapping[str, str] | None = None,
    *,
    stream: str = STREAM,
) -> ImportRun:
    """POST the repository import to the api handler; drain the queue into the worker.

    Timed from the POST until the queue is empty (the job complete). The api
    and the worker each start as a new process would (see
    :func:`function_environment`).
    """
    changes = dict(overrides or {})
    body = repository_body(repository.reference, stream)
    with function_environment({**stack.api, **changes}):
        api = Api(reset=False)
        started = time.perf_counter()
        reply = api.post_import(NAMESPACE, body)
        api_seconds = time.perf_counter() - started
    if reply.status not in (201, 202):
        raise BenchError(f"the import answered {reply.status}: {json.dumps(reply.body)[:2000]}")
    annotations = reply.body.get("metadata", {}).get("annotations") or {}
    inline = int(annotations.get(TAGS_DONE, len(repository.tags)))
    invocations = 0
    if reply.status == 202:
        with function_environment({**stack.worker, **changes}):
            worker = load_function("worker")
            report = drain(
                stack.queue_url,
                invoker(
                    worker.lambda_handler,
                    function_name=WORKER_FUNCTION,
                    timeout_seconds=stack.worker_timeout,
                    memory_limit_in_mb=stack.worker_memory_mb,
                ),
                batch_size=1,
                timeout=DRAIN_TIMEOUT,
                max_receives=1_000_000,
            )
        invocations = report.invocations
        if not report.empty or report.errors:
            raise BenchError(f"the queue was not drained: {report.errors[:1]}")
    seconds = time.perf_counter() - started
    final = read_import(stack, stream) if reply.status == 202 else reply.body
    done, failed, state = import_progress(final, len(repository.tags))
    if failed or done != len(repository.tags) or state != "Complete":
        raise BenchError(
            f"{state}: {failed} of {done} tags failed; {len(repository.tags)} expected"
        )
    return ImportRun(reply.status, seconds, api_seconds, inline, invocations, done, failed, state)


def read_import(stack: Stack, name: str) -> dict[str, Any]:
    """The latest ImageStreamImport document, read through the api handler."""
    with function_environment(stack.api):
        reply = Api(reset=False).invoke(
            with_name(with_namespace(load_event("api-get-import"), NAMESPACE), name)
        )
    body: dict[str, Any] = reply.body
    return body


def import_progress(document: Mapping[str, Any], expected: int) -> tuple[int, int, str]:
    """Tags done, tags failed and the job state of an import document."""
    annotations = document.get("metadata", {}).get("annotations") or {}
    if JOB_STATE in annotations:
        return (
            int(annotations.get(TAGS_DONE, 0)),
            int(annotations.get(TAGS_FAILED, 0)),
            str(annotations[JOB_STATE]),
        )
    images = (document.get("status", {}).get("repository") or {}).get("images") or []
    failed = sum(1 for image in images if image.get("status", {}).get("status") != "Success")
    return len(images), failed, "Complete" if len(images) == expected else "Incomplete"


def counted_import(
    stack: Stack,
    registry: Registry,
    repository: Repository,
    overrides: Mapping[str, str] | None = None,
) -> tuple[ImportRun, RequestCounts]:
    """:func:`import_repository`, with the registry requests it made."""
    mark = registry.access_log_mark()
    token_mark = len(registry.token_server.token_requests()) if registry.token_server else 0
    run = import_repository(stack, repository, overrides)
    entries = registry.access_log(since=mark)
    tokens = (
        len(registry.token_server.token_requests()) - token_mark if registry.token_server else 0
    )
    return run, RequestCounts.collect(entries, repository, tokens)


# --------------------------------------------------------------------------- skopeo


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


# --------------------------------------------------------------------------- memory


def read_status(field_name: str) -> int:
    """A ``/proc/self/status`` field in KiB (0 where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS of this process (VmHWM) to its current RSS."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples this process's RSS every few milliseconds; keeps the largest."""

    def __init__(self, interval: float = 0.005) -> None:
        self.peak_kib = read_status("VmRSS")
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_kib = max(self.peak_kib, read_status("VmRSS"))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, read_status("VmRSS"))


def child_memory(host: str, name: str, tags: Sequence[str]) -> dict[str, Any]:
    """In this (fresh) process: one cold repository import; its peak RSS."""
    repository = Repository(host, name, list(tags))
    with aws_stack() as stack:
        # Load both handlers once first, so the baseline holds what a warm
        # Lambda process holds before its first request.
        with function_environment(stack.api):
            Api(reset=False)
        load_function("worker")
        baseline = read_status("VmRSS")
        exact = reset_peak_rss()
        with RssSampler() as sampler:
            run = import_repository(stack, repository)
        hwm = read_status("VmHWM")
    return {
        "baseline_mib": baseline / 1024,
        "peak_mib": (hwm if exact else sampler.peak_kib) / 1024,
        "sampled_peak_mib": sampler.peak_kib / 1024,
        "exact": exact,
        "process_max_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "status": run.status,
        "seconds": run.seconds,
    }


@dataclass
class Memory:
    """Peak RSS of a cold repository import in a fresh process holding moto."""

    baseline_mib: float
    peak_mib: float
    sampled_peak_mib: float
    exact: bool
    process_max_mib: float
    status: int
    seconds: float


def measure_memory(repository: Repository) -> Memory:
    """Run :func:`child_memory` in a new Python process."""
    argument = json.dumps(
        {"host": repository.host, "name": repository.name, "tags": repository.tags}
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(argument)
        path = handle.name
    try:
        result = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child-memory", path],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            cwd=ROOT,
            check=False,
        )
    finally:
        os.unlink(path)
    if result.returncode != 0:
        raise RuntimeError(f"the memory run failed:\n{result.stderr[-4000:]}")
    return Memory(**json.loads(result.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- cold start

IMPORT_APP = (
    "import sys, time; sys.path[:0] = [{layer!r}, {function!r}]; "
    "started = time.perf_counter(); import app; print(time.perf_counter() - started)"
)
IMPORT_BOTO3 = (
    "import time; started = time.perf_counter(); import boto3; print(time.perf_counter() - started)"
)


def lambda_like_environment() -> dict[str, str]:
    """The api function's literal variables, fake credentials, and nothing of this shell."""
    template = load_template(TEMPLATE)
    variables = {
        name: str(value)
        for name, value in template.function_environment(API_FUNCTION).items()
        if isinstance(value, str | int | float)
    }
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
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
    """Import times of the api handler module and of ``boto3``, fresh processes."""

    app_seconds: list[float]
    boto3_seconds: list[float]
    direct_imports: list[ImportCost]
    packages: list[ImportCost]
    imports_boto3: bool

    @property
    def ratio(self) -> float:
        return median(self.app_seconds) / median(self.boto3_seconds)


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
    """Alternate fresh-process imports of the handler and of boto3; then attribute the cost."""
    environ = lambda_like_environment()
    app_code = IMPORT_APP.format(layer=str(LAYER_DIR), function=str(API_DIR))
    # Once each unmeasured, so both read compiled bytecode and a warm page cache.
    timed_import(app_code, environ)
    timed_import(IMPORT_BOTO3, environ)
    app_times, boto3_times = [], []
    for _ in range(samples):
        app_times.append(timed_import(app_code, environ))
        boto3_times.append(timed_import(IMPORT_BOTO3, environ))
    traced = subprocess.run(
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
    rows = parse_importtime(traced.stderr)
    imports_boto3 = traced.stdout.strip().splitlines()[-1:] == ["True"]
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
    )


# --------------------------------------------------------------------------- devserver latency


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


# --------------------------------------------------------------------------- the whole benchmark


@dataclass
class Options:
    tags: int
    runs: int
    multiarch: int
    parallelism: int
    latency_samples: int
    cold_start_samples: int
    token_registry: bool
    output: Path
    json_path: Path | None
    quick: bool
    profile: Path | None = None


@dataclass
class Results:
    """Every figure of one benchmark run."""

    machine: Machine
    options: dict[str, Any]
    worker_memory_mb: int
    api_memory_mb: int
    anonymous_cold: RequestCounts | None = None
    anonymous_warm: RequestCounts | None = None
    token_cold: RequestCounts | None = None
    token_warm: RequestCounts | None = None
    cold_runs: list[ImportRun] = field(default_factory=list)
    warm_runs: list[ImportRun] = field(default_factory=list)
    fanout_runs: list[ImportRun] = field(default_factory=list)
    skopeo_seconds: list[float] = field(default_factory=list)
    skopeo_cpu: list[CpuUse] = field(default_factory=list)
    latency: Latency | None = None
    cold_start: ColdStart | None = None
    memory: Memory | None = None
    elapsed_seconds: float = 0.0
    load_after: str = ""
    settings: dict[str, str] = field(default_factory=dict)

    def ratio(self, runs: Sequence[ImportRun]) -> float:
        """How many times faster than the skopeo loop (medians)."""
        return median(self.skopeo_seconds) / median([run.seconds for run in runs])


def deployed_setting(variable: str) -> str:
    """An api function setting as deployed: the template's value, else the default."""
    configured = load_template(TEMPLATE).function_environment(API_FUNCTION)
    value = configured.get(variable)
    if isinstance(value, str | int | float):
        return str(value)
    for field_info in Settings.model_fields.values():
        if field_info.alias == variable:
            return str(field_info.default)
    raise KeyError(variable)


def import_parallelism() -> int:
    """The importer's parallelism as deployed."""
    return int(deployed_setting("IMPORT_PARALLELISM"))


def template_memory() -> tuple[int, int]:
    """The configured MemorySize of the worker and of the api function (MB)."""
    template = load_template(TEMPLATE)
    return (
        int(template.function_property(WORKER_FUNCTION, "MemorySize", 128)),
        int(template.function_property(API_FUNCTION, "MemorySize", 128)),
    )


def timed_runs(results: Results, registry: Registry, repository: Repository, runs: int) -> None:
    """Per run: the skopeo loop, a cold import, a warm re-import, a forced fan-out."""
    for number in range(runs):
        log(f"run {number + 1}/{runs}: skopeo inspect x {len(repository.tags)}")
        with cpu_use(registry) as skopeo_cpu:
            results.skopeo_seconds.append(skopeo_loop(repository, results.options["parallelism"]))
        results.skopeo_cpu.append(skopeo_cpu)
        with aws_stack() as stack:
            log(f"run {number + 1}/{runs}: cold import")
            with cpu_use(registry) as cold_cpu:
                cold, cold_counts = counted_import(stack, registry, repository)
            log(f"run {number + 1}/{runs}: warm re-import")
            with cpu_use(registry) as warm_cpu:
                warm, warm_counts = counted_import(stack, registry, repository)
        cold.cpu, warm.cpu = cold_cpu, warm_cpu
        results.cold_runs.append(cold)
        results.warm_runs.append(warm)
        if number == 0:
            results.anonymous_cold, results.anonymous_warm = cold_counts, warm_counts
        with aws_stack() as stack:
            log(f"run {number + 1}/{runs}: cold import, forced fan-out")
            with cpu_use(registry) as fanout_cpu:
                fanout = import_repository(stack, repository, FANOUT_OVERRIDES)
        fanout.cpu = fanout_cpu
        results.fanout_runs.append(fanout)


def token_counts(results: Results, tags: int, multiarch: int) -> None:
    """Cold and warm request counts against a registry with token auth and a pull secret."""
    registry = start_token_registry()
    try:
        log(f"token registry: pushing {tags} tags")
        repository = push_repository(registry, tags, multiarch)
        if registry.username is None or registry.password is None:
            raise BenchError("the token registry has no reader credentials")
        with aws_stack() as stack:
            with function_environment(stack.api):
                Api(reset=False).put_pull_secret(
                    NAMESPACE, {registry.host: (registry.username, registry.password)}
                )
            log("token registry: cold import, warm re-import")
            _, results.token_cold = counted_import(stack, registry, repository)
            _, results.token_warm = counted_import(stack, registry, repository)
    finally:
        registry.stop()


def run_benchmark(options: Options) -> Results:
    """Every measurement, in an order that keeps them from disturbing each other."""
    started = time.perf_counter()
    worker_mb, api_mb = template_memory()
    results = Results(
        machine=Machine.describe(),
        options={
            "tags": options.tags,
            "runs": options.runs,
            "multiarch": options.multiarch,
            "parallelism": options.parallelism,
            "latency_samples": options.latency_samples,
            "cold_start_samples": options.cold_start_samples,
            "quick": options.quick,
        },
        worker_memory_mb=worker_mb,
        api_memory_mb=api_mb,
        settings={
            name: deployed_setting(name)
            for name in ("IMPORT_PARALLELISM", "IMPORT_TIME_BUDGET", "INLINE_FRACTION")
        },
    )
    log(f"cold start: {options.cold_start_samples} samples each")
    results.cold_start = measure_cold_start(options.cold_start_samples)
    registry = start_anonymous_registry()
    try:
        log(f"pushing {options.tags} tags ({options.multiarch} multi-arch)")
        repository = push_repository(registry, options.tags, options.multiarch)
        timed_runs(results, registry, repository, options.runs)
        log("peak memory: a cold import in a fresh process")
        results.memory = measure_memory(repository)
        log(f"devserver latency: {options.latency_samples} samples each")
        results.latency = measure_latency(repository, options.latency_samples)
        if options.profile is not None:
            profile_imports(repository, options.profile)
    finally:
        registry.stop()
    if options.token_registry:
        token_counts(results, options.tags, options.multiarch)
    results.elapsed_seconds = time.perf_counter() - started
    results.load_after = load_average()
    return results


def profile_imports(repository: Repository, directory: Path) -> None:
    """pyinstrument profiles (main thread: where the handler waits) of each import kind.

    Run after the timed measurements, which the profiler would slow down.
    """
    from pyinstrument import Profiler  # a dev dependency, needed only here

    directory.mkdir(parents=True, exist_ok=True)

    def profiled(name: str, stack: Stack, overrides: Mapping[str, str] | None = None) -> None:
        log(f"profiling the {name} import")
        profiler = Profiler(interval=0.001)
        profiler.start()
        try:
            import_repository(stack, repository, overrides)
        finally:
            profiler.stop()
        (directory / f"{name}.txt").write_text(profiler.output_text(show_all=False))
        (directory / f"{name}.html").write_text(profiler.output_html())

    with aws_stack() as stack:
        profiled("cold", stack)
        profiled("warm", stack)
    with aws_stack() as stack:
        profiled("fanout", stack, FANOUT_OVERRIDES)


# --------------------------------------------------------------------------- the report


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def fmt_rate(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"


def verdict(ok: bool) -> str:
    return "**pass**" if ok else "**FAIL**"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def request_rows(label: str, counts: RequestCounts | None) -> list[list[str]]:
    """Rows of per-tag request counts for one import: single, multi-arch, all tags."""
    if counts is None:
        return []
    rows = []
    for group, name in (
        ("single", f"single-platform tags ({counts.tags.get('single', 0)})"),
        ("multi", f"multi-arch tags ({counts.tags.get('multi', 0)})"),
    ):
        if counts.tags.get(group):
            rows.append(
                [label, name]
                + [fmt_rate(counts.per_tag(kind, group)) for kind in KINDS[:3]]
                + ["", "", "", ""]
            )
    tags = sum(counts.tags.values())
    rows.append(
        [label, f"all {tags} tags, per tag"]
        + [fmt_rate(counts.per_tag(kind, "all")) for kind in KINDS[:3]]
        + [f"{counts.total(kind)} ({fmt_rate(counts.per_tag(kind, 'all'))})" for kind in KINDS[3:]]
    )
    return rows


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    ok: bool


def targets(results: Results) -> list[Target]:
    """DESIGN section 11, each with what was measured and whether it holds."""
    found: list[Target] = []
    cold, warm = results.anonymous_cold, results.anonymous_warm
    if cold is not None:
        gets = cold.per_tag("manifest GET", "single") + cold.per_tag("blob GET", "single")
        auth = results.token_cold
        # Amortized: a token per handler process (the api's, a worker's), never per tag.
        tokens = auth.total("token") if auth else 0
        found.append(
            Target(
                "Cold import: at most 2 GETs per tag (manifest + config) plus amortized auth",
                f"{fmt_rate(gets)} GETs per single-platform tag"
                + (
                    f"; {tokens} token request(s) for {sum(auth.tags.values())} tags"
                    if auth
                    else ""
                ),
                gets <= 2 and tokens <= 2,
            )
        )
    if warm is not None:
        heads = warm.per_tag("manifest HEAD", "all")
        gets = warm.per_tag("manifest GET", "all") + warm.per_tag("blob GET", "all")
        found.append(
            Target(
                "Warm re-import: exactly 1 HEAD and 0 GETs per tag",
                f"{fmt_rate(heads)} HEAD, {fmt_rate(gets)} GETs per tag",
                heads == 1 and gets == 0,
            )
        )
    if results.cold_runs and results.skopeo_seconds:
        for label, runs in (
            ("default settings", results.cold_runs),
            ("forced fan-out", results.fanout_runs),
        ):
            if runs:
                ratio = results.ratio(runs)
                found.append(
                    Target(
                        f"Repository import ({label}) at least 5x faster than skopeo per tag",
                        f"{ratio:.2f}x",
                        ratio >= 5,
                    )
                )
    if results.cold_start is not None:
        ratio = results.cold_start.ratio
        found.append(
            Target(
                "Cold start: api module import at most 2x a bare `import boto3`",
                f"{ratio:.2f}x",
                ratio <= 2,
            )
        )
    if results.memory is not None:
        found.append(
            Target(
                f"Peak memory of the import under the worker's MemorySize "
                f"({results.worker_memory_mb} MB)",
                f"{results.memory.peak_mib:.0f} MiB",
                results.memory.peak_mib < results.worker_memory_mb,
            )
        )
    return found


def render(results: Results, command: str) -> str:
    """The Markdown report."""
    machine, options = results.machine, results.options
    tags = options["tags"]
    lines = [
        "# Benchmark results",
        "",
        f"Reproduce with `{command}` ({results.elapsed_seconds / 60:.1f} minutes here).",
        "Everything runs on one machine without network: a real `docker-registry` on",
        "loopback, AWS from moto with the tables and queues of `template.yaml`, and the",
        "real handlers (`functions/api/app.py`; `functions/worker/app.py` fed from the",
        "import queue). See `bench/run.py` for what each figure measures.",
        "",
        "## Machine",
        "",
        *table(
            ["", ""],
            [
                ["CPUs", f"{machine.cpus} x {machine.cpu_model}"],
                ["Memory", f"{machine.memory_gib} GiB"],
                ["OS", machine.os],
                ["Python", machine.python],
                ["Load average at start / end", f"{machine.load} / {results.load_after}"],
                ["Registry", machine.registry],
                ["skopeo", machine.skopeo],
                ["Code measured (commit)", machine.code],
            ],
        ),
        "",
        f"Repository: {tags} tags, {options['multiarch']} of them multi-arch "
        "(amd64, arm64, ppc64le), all sharing the same two layers; every tag has its own "
        "manifest and config. Imports use the api function's settings as deployed ("
        + ", ".join(f"`{name}` {value}" for name, value in results.settings.items())
        + ") but `ALLOW_PRIVATE_REGISTRIES=true` for the loopback registry; "
        f"`spec.import: true`; median of {options['runs']} run(s).",
        "",
        "## Targets (DESIGN section 11)",
        "",
        *table(
            ["Target", "Measured", "Result"],
            [[t.name, t.measured, verdict(t.ok)] for t in targets(results)],
        ),
        "",
        "## Registry requests per imported tag",
        "",
        "Counted from the registry's access log (and the token service's record). "
        "`ping` is `GET /v2/`, `401` the auth challenges; the last four columns are "
        "totals for the import, per tag in parentheses. Multi-arch tags in `Legacy` "
        "mode need the list, the chosen child and its config.",
        "",
        *table(
            ["Import", "Tags", *KINDS],
            request_rows("anonymous, cold", results.anonymous_cold)
            + request_rows("anonymous, warm", results.anonymous_warm)
            + request_rows("token auth, cold", results.token_cold)
            + request_rows("token auth, warm", results.token_warm),
        ),
        "",
        "## Wall time against skopeo",
        "",
        f"The whole import of {tags} tags: the api handler's answer, then (on 202) the "
        "queue drained by the worker handler one chunk per invocation, as the template's "
        "`BatchSize: 1` has it, until the job is complete (one invocation at a time; "
        "deployed, up to `WorkerMaxConcurrency` run at once). The peer is "
        "`skopeo inspect --tls-verify=false docker://HOST/REPO:TAG` once per tag, "
        f"{options['parallelism']} at a time. CPU (last run) is what the client used (this "
        "process: handlers, their threads and moto; or the skopeo processes) and what the "
        f"registry used: they share the machine's {machine.cpus} CPUs.",
        "",
        *table(
            [
                "What",
                "Median",
                "Runs",
                "Answer",
                "Tags inline / via worker",
                "CPU: client / registry",
                "Speed-up vs skopeo",
            ],
            wall_rows(results),
        ),
        "",
    ]
    lines += latency_section(results)
    lines += cold_start_section(results)
    lines += memory_section(results)
    return "\n".join(lines) + "\n"


def wall_rows(results: Results) -> list[list[str]]:
    rows = []
    skopeo = results.skopeo_seconds
    if skopeo:
        cpu = results.skopeo_cpu[-1] if results.skopeo_cpu else CpuUse()
        rows.append(
            [
                "skopeo inspect per tag",
                fmt_seconds(median(skopeo)),
                ", ".join(fmt_seconds(s) for s in skopeo),
                "",
                "",
                f"{cpu.children:.1f} s (skopeo) / {cpu.registry:.1f} s",
                "1x",
            ]
        )
    for label, runs in (
        ("cold import, default settings", results.cold_runs),
        ("warm re-import, default settings", results.warm_runs),
        (
            f"cold import, forced fan-out (`INLINE_FRACTION={FANOUT_INLINE_FRACTION}`)",
            results.fanout_runs,
        ),
    ):
        if not runs:
            continue
        last = runs[-1]
        rows.append(
            [
                label,
                fmt_seconds(median([run.seconds for run in runs])),
                ", ".join(fmt_seconds(run.seconds) for run in runs),
                str(last.status),
                f"{last.inline_tags} / {last.tags_done - min(last.inline_tags, last.tags_done)}"
                + (f" ({last.worker_invocations} invocations)" if last.worker_invocations else ""),
                f"{last.cpu.own:.1f} s / {last.cpu.registry:.1f} s" if last.cpu else "",
                f"{results.ratio(runs):.2f}x" if skopeo else "",
            ]
        )
    return rows


def latency_section(results: Results) -> list[str]:
    latency = results.latency
    if latency is None:
        return []
    return [
        "## Single-image import latency (HTTP, `python -m devserver`)",
        "",
        "`POST .../imagestreamimports` of one tag with `spec.import: true`, timed by the "
        "client (urllib) on loopback. Cold cache: a tag never imported before; warm: "
        "the same tag again.",
        "",
        *table(
            ["What", "Median", "Samples"],
            [
                [
                    "first request after start (lazy clients)",
                    fmt_seconds(latency.first_seconds),
                    "1",
                ],
                [
                    "cold cache",
                    fmt_seconds(median(latency.cold_seconds)),
                    str(len(latency.cold_seconds)),
                ],
                [
                    "warm cache",
                    fmt_seconds(median(latency.warm_seconds)),
                    str(len(latency.warm_seconds)),
                ],
                [
                    "server start (until its banner is printed)",
                    fmt_seconds(latency.startup_seconds),
                    "1",
                ],
            ],
        ),
        "",
    ]


def cold_start_section(results: Results) -> list[str]:
    cold = results.cold_start
    if cold is None:
        return []
    return [
        "## Cold start",
        "",
        "Import time of `functions/api/app.py` in a fresh `python -I` process with the "
        "layer directory on `sys.path` (as Lambda does), against a bare `import boto3` in "
        f"another; alternated, median of {len(cold.app_seconds)} each.",
        "",
        *table(
            ["What", "Median", "Samples"],
            [
                [
                    "`import app` (api handler)",
                    fmt_seconds(median(cold.app_seconds)),
                    ", ".join(fmt_seconds(s) for s in cold.app_seconds),
                ],
                [
                    "`import boto3`",
                    fmt_seconds(median(cold.boto3_seconds)),
                    ", ".join(fmt_seconds(s) for s in cold.boto3_seconds),
                ],
                ["ratio", f"{cold.ratio:.2f}x", ""],
            ],
        ),
        "",
        f"Importing the handler {'imports' if cold.imports_boto3 else 'does not import'} "
        "boto3. Where the time goes (`python -X importtime`, one run):",
        "",
        *table(
            ["Direct import of `app`", "Cumulative"],
            [[f"`{c.name}`", f"{c.cumulative_ms:.0f} ms"] for c in cold.direct_imports],
        ),
        "",
        *table(
            ["Package (own time of all its modules)", "Self"],
            [[f"`{c.name}`", f"{c.self_ms:.0f} ms"] for c in cold.packages],
        ),
        "",
    ]


def memory_section(results: Results) -> list[str]:
    memory = results.memory
    if memory is None:
        return []
    how = "VmHWM after resetting it" if memory.exact else "VmRSS sampled every 5 ms"
    return [
        "## Peak memory",
        "",
        f"A cold import of the {results.options['tags']}-tag repository (default settings) "
        "in a fresh Python process that also holds moto, the tables and both handlers: "
        "the figure is an upper bound for one Lambda process, which holds neither moto "
        f"nor the other handler. Peak measured as {how}.",
        "",
        *table(
            ["What", "RSS"],
            [
                [
                    "before the import (moto, tables, handlers loaded)",
                    f"{memory.baseline_mib:.0f} MiB",
                ],
                ["peak during the import", f"{memory.peak_mib:.0f} MiB"],
                ["growth during the import", f"{memory.peak_mib - memory.baseline_mib:.0f} MiB"],
                ["worker MemorySize (template)", f"{results.worker_memory_mb} MB"],
                ["api MemorySize (template)", f"{results.api_memory_mb} MB"],
            ],
        ),
        "",
    ]


def to_json(results: Results) -> dict[str, Any]:
    """The raw figures, with the derived ones the report states."""
    document = asdict(results)
    document["targets"] = [asdict(target) for target in targets(results)]
    document["ratios"] = {
        "cold": results.ratio(results.cold_runs) if results.cold_runs else None,
        "warm": results.ratio(results.warm_runs) if results.warm_runs else None,
        "fanout": results.ratio(results.fanout_runs) if results.fanout_runs else None,
        "cold_start": results.cold_start.ratio if results.cold_start else None,
    }
    return document


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--tags", type=int, help="tags in the repository (default 1000)")
    parser.add_argument("--runs", type=int, help="timed runs, median reported (default 3)")
    parser.add_argument("--multiarch", type=int, help="multi-arch tags among them (default 3)")
    parser.add_argument("--latency-samples", type=int, help="per latency figure (default 10)")
    parser.add_argument("--cold-start-samples", type=int, help="per import (default 7)")
    parser.add_argument(
        "--no-token-registry", action="store_true", help="skip the token-auth request counts"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every measurement at a tiny scale: 20 tags, 1 run, 2 samples",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown report")
    parser.add_argument("--json", type=Path, dest="json_path", help="also write raw figures")
    parser.add_argument(
        "--profile", type=Path, help="also write pyinstrument profiles of each import kind here"
    )
    parser.add_argument("--child-memory", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = bool(args.quick)

    def pick(value: int | None, normal: int, small: int) -> int:
        return value if value is not None else (small if quick else normal)

    parallelism = import_parallelism()
    options = Options(
        tags=pick(args.tags, 1000, 20),
        runs=max(1, pick(args.runs, 3, 1)),
        multiarch=pick(args.multiarch, 3, 2),
        parallelism=parallelism,
        latency_samples=max(1, pick(args.latency_samples, 10, 2)),
        cold_start_samples=max(1, pick(args.cold_start_samples, 7, 2)),
        token_registry=not args.no_token_registry,
        output=args.output,
        json_path=args.json_path,
        quick=quick,
        profile=args.profile,
    )
    return options, args


# Options that say where results go, not what is measured.
_OUTPUT_OPTIONS = ("--output", "--json", "--profile")


def reproduce_command(argv: Sequence[str]) -> str:
    """The ``make bench`` command that measures the same, without this run's output paths."""
    kept: list[str] = []
    skip = False
    for argument in argv:
        if skip:
            skip = False
        elif argument in _OUTPUT_OPTIONS:
            skip = True
        elif not argument.startswith(tuple(f"{option}=" for option in _OUTPUT_OPTIONS)):
            kept.append(argument)
    return f"make bench BENCH_ARGS={shlex.quote(shlex.join(kept))}" if kept else "make bench"


def main(argv: Sequence[str] | None = None) -> int:
    options, args = parse_args(argv)
    if args.child_memory is not None:
        spec = json.loads(Path(args.child_memory).read_text())
        print(json.dumps(child_memory(spec["host"], spec["name"], spec["tags"])))
        return 0
    missing = [
        name
        for name, found in (("docker-registry", registry_binary()), ("skopeo", skopeo_binary()))
        if not found
    ]
    if missing:
        print(f"bench: {', '.join(missing)} not installed (Debian packages)", file=sys.stderr)
        return 2
    if options.tags < options.latency_samples + 2:
        print("bench: --tags must exceed --latency-samples by 2", file=sys.stderr)
        return 2
    # The handlers log to stdout, as Lambda wants; here stdout is for the report.
    report_stream = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    results = run_benchmark(options)
    report = render(results, reproduce_command(sys.argv[1:] if argv is None else argv))
    with report_stream:
        report_stream.write(report)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(report)
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(to_json(results), indent=2, default=str))
    log(f"report written to {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
