"""Import targets and what their outcomes report (imports/plan.py, imports/outcomes.py).

The Docker Hub cases of OpenShift's ``importer_test.go`` cannot reach a
registry here; these rows check, without one, the statuses it expects.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from imagestreams.errors import RegistryError
from imagestreams.imports import plan
from imagestreams.imports.outcomes import Outcome
from imagestreams.imports.plan import ImportOptions
from imagestreams.models import (
    ImageImportSpec,
    LocalObjectReference,
    ObjectReference,
    RepositoryImportSpec,
)
from imagestreams.reference import parse

EMPTY_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PREFER_ARCH = "importer.image.openshift.io/prefer-arch"
PREFER_OS = "importer.image.openshift.io/prefer-os"


def image_target(name: str, to: str | None = None) -> plan.Target:
    spec = ImageImportSpec(
        from_=ObjectReference(kind="DockerImage", name=name),
        to=LocalObjectReference(name=to) if to else None,
    )
    return plan.image_target(spec, parse(name), ImportOptions())


def repository_target(name: str, tag: str) -> plan.Target:
    [target] = plan.tag_targets(
        RepositoryImportSpec(from_=ObjectReference(kind="DockerImage", name=name)),
        parse(name),
        [tag],
        ImportOptions(),
    )
    return target


FAILURES = [
    # importer_test.go TestImport "missing tag, digest, and invalid image reference", image 0.
    pytest.param(
        image_target("test"),
        "no such manifest tag",
        "latest",
        "Internal error occurred: docker.io/library/test:latest: no such manifest tag",
        id="hub-no-tag",
    ),
    # The same case, image 1.
    pytest.param(
        image_target(f"test@{EMPTY_DIGEST}"),
        "no such digest",
        "",
        f"Internal error occurred: docker.io/library/test@{EMPTY_DIGEST}: no such digest",
        id="hub-digest",
    ),
    # importer.go importImages: by tag and digest is by digest; the tag is not reported.
    pytest.param(
        image_target(f"quay.io/a/b:v1@{EMPTY_DIGEST}", to="v1"),
        "boom",
        "",
        f"Internal error occurred: quay.io/a/b@{EMPTY_DIGEST}: boom",
        id="tag-and-digest",
    ),
    # importer_test.go TestImport "import repository with additional tags".
    pytest.param(
        repository_target("test", "3.1"),
        "no such manifest tag",
        "3.1",
        "Internal error occurred: docker.io/library/test:3.1: no such manifest tag",
        id="hub-repository-tag",
    ),
]


@pytest.mark.parametrize(("target", "detail", "tag", "message"), FAILURES)
def test_a_failure_reports_the_source_tag_and_the_normalized_reference(
    target: plan.Target, detail: str, tag: str, message: str
) -> None:
    # Given a target whose import met an error
    outcome = Outcome(target, error=RegistryError(detail=detail))

    # When it is reported
    status = outcome.status()

    # Then
    assert status.tag == tag
    assert status.status.reason == "InternalError"
    assert status.status.message == message


PREFERENCES = [
    # importer.go importImages reads the spec tag `to` names.
    pytest.param("app:v1", "v1", {PREFER_ARCH: "arm64"}, {}, ("arm64", None), id="spec-tag"),
    # ... or the reference's defaulted tag without a `to`.
    pytest.param("app", None, {PREFER_OS: "windows"}, {}, (None, "windows"), id="no-to-latest"),
    # Our extension: the request's annotations when the spec tag says nothing.
    pytest.param("app:v1", "v1", {}, {PREFER_ARCH: "s390x"}, ("s390x", None), id="request"),
    # The spec tag's pair wins whole over the request's.
    pytest.param(
        "app:v1",
        "v1",
        {PREFER_OS: "windows"},
        {PREFER_ARCH: "s390x"},
        (None, "windows"),
        id="spec-tag-wins-whole",
    ),
    # importer.go importImages: a reference by digest has no spec tag preference.
    pytest.param(
        f"app@{EMPTY_DIGEST}", "v1", {PREFER_ARCH: "arm64"}, {}, (None, None), id="digest"
    ),
]


@pytest.mark.parametrize(("name", "to", "tag", "request_", "expected"), PREFERENCES)
def test_platform_preference(
    name: str,
    to: str | None,
    tag: Mapping[str, str],
    request_: Mapping[str, str],
    expected: tuple[str | None, str | None],
) -> None:
    # Given the stream's spec tags: only the one the target names has annotations
    target = image_target(name, to)
    wanted = to or parse(name).tag_or_latest

    def spec_tags(asked: str) -> Mapping[str, str]:
        return tag if asked == wanted else {}

    # Then
    assert plan.platform_preference(target, spec_tags, request_) == expected
