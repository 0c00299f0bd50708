"""Repository tag ordering, as OpenShift prioritizes tags for import."""

from __future__ import annotations

import pytest

from imagestreams.imports.tags import parse_semver, prioritize

CASES = [
    ("latest-first", ["b", "latest", "a"], ["latest", "a", "b"]),
    ("minor-newest-first", ["5.1", "5.10", "5.2", "4.9"], ["5.10", "5.2", "5.1", "4.9"]),
    ("minor-before-full", ["1.2.3", "1.2"], ["1.2", "1.2.3"]),
    ("full-newest-first", ["1.2.3", "1.10.0", "1.2.10"], ["1.10.0", "1.2.10", "1.2.3"]),
    (
        "prerelease-older",
        ["2.0.0", "2.0.0-rc.1", "2.0.0-beta"],
        ["2.0.0", "2.0.0-rc.1", "2.0.0-beta"],
    ),
    (
        "prerelease-numeric",
        ["1.0.0-rc.10", "1.0.0-rc.2", "1.0.0-rc.a"],
        ["1.0.0-rc.a", "1.0.0-rc.10", "1.0.0-rc.2"],
    ),
    ("v-prefix-same-group", ["v1.2", "1.3", "v1.4"], ["v1.4", "1.3", "v1.2"]),
    ("equal-version-unprefixed-first", ["v1.2", "1.2"], ["1.2", "v1.2"]),
    ("minor-with-suffix", ["5.1-rc1", "5.1", "5.2-alpine"], ["5.2-alpine", "5.1", "5.1-rc1"]),
    ("build-metadata", ["1.0.0+b2", "1.0.1"], ["1.0.1", "1.0.0+b2"]),
    ("others-lexical", ["stable", "edge", "alpine", "8"], ["8", "alpine", "edge", "stable"]),
    ("leading-zero-not-semver", ["01.2.3", "1.2.3"], ["1.2.3", "01.2.3"]),
    ("dedupe", ["a", "latest", "a", "latest"], ["latest", "a"]),
    (
        "mixed",
        ["sha-abc", "3.18", "latest", "3.18.4", "edge", "3.19", "v3.19.0"],
        ["latest", "3.19", "3.18", "v3.19.0", "3.18.4", "edge", "sha-abc"],
    ),
    ("empty", [], []),
]


@pytest.mark.parametrize(("tags", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_prioritize(tags: list[str], expected: list[str]) -> None:
    assert prioritize(tags) == expected


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.2.3", (1, 2, 3, ())),
        ("0.0.0-alpha.1+x", (0, 0, 0, ("alpha", "1"))),
        ("1.2", None),
        ("1.02.3", None),
        ("1.2.3-", None),
        ("v1.2.3", None),
    ],
)
def test_parse_semver(text: str, parsed: tuple[object, ...] | None) -> None:
    version = parse_semver(text)
    if parsed is None:
        assert version is None
    else:
        assert version is not None
        assert (version.major, version.minor, version.patch, version.pre) == parsed
