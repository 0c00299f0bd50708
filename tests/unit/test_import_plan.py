"""Which request resolves an import target first (pure)."""

from __future__ import annotations

import pytest

from imagestreams import reference
from imagestreams.imports.plan import Target, head_first

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("name", "known", "expected"),
    [
        ("quay.io/team/app:v1", False, False),
        ("quay.io/team/app:v1", True, True),
        (f"quay.io/team/app@{DIGEST}", False, True),
        ("registry.example.com:5000/app", False, False),
        # Docker Hub counts manifest GETs against the pull quota, not HEADs.
        ("busybox:latest", False, True),
        ("docker.io/library/busybox:1.36", False, True),
        ("index.docker.io/library/busybox", False, True),
    ],
    ids=[
        "new-tag",
        "tag-the-stream-has",
        "by-digest",
        "new-tag-with-port",
        "docker-hub-short",
        "docker-hub",
        "docker-hub-index",
    ],
)
def test_head_first(name: str, known: bool, expected: bool) -> None:
    target = Target(reference.parse(name), "t", False, "Legacy", False, known=known)

    assert head_first(target) is expected
