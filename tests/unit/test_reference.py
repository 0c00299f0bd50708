"""Table-driven tests of the reference grammar.

Most rows come from distribution/reference's own tables; the rest pin down
OpenShift's defaults (Docker Hub, ``library/``, ``latest``) and where this
service chooses between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError
from typing import NamedTuple

import pytest

from imagestreams.errors import InvalidReferenceError
from imagestreams.reference import (
    DOCKER_HUB,
    DOCKER_HUB_API_HOST,
    Digest,
    Reference,
    is_digest,
    parse,
)

SHA256 = "sha256:" + "f" * 64
SHA384 = "sha384:" + "e" * 96
SHA512 = "sha512:" + "f" * 128
OTHER_SHA256 = "sha256:" + "0123456789abcdef" * 4

Derive = Callable[[Reference], Reference]


class Parsed(NamedTuple):
    """What a valid reference parses into, and the defaults derived from it."""

    registry: str
    path: str
    tag: str | None
    digest: str | None
    domain: str
    repository: str
    api_host: str


def hub(
    path: str, tag: str | None = None, digest: str | None = None, *, registry: str = ""
) -> Parsed:
    """A Docker Hub reference: library/ for one-component paths."""
    repository = path if "/" in path else f"library/{path}"
    return Parsed(registry, path, tag, digest, DOCKER_HUB, repository, DOCKER_HUB_API_HOST)


def at(registry: str, path: str, tag: str | None = None, digest: str | None = None) -> Parsed:
    """A reference to a registry other than Docker Hub."""
    return Parsed(registry, path, tag, digest, registry, path, registry)


VALID = [
    # Docker Hub defaults.
    pytest.param("mysql", hub("mysql"), id="hub-official-bare"),
    pytest.param("mysql:8", hub("mysql", "8"), id="hub-official-tag"),
    pytest.param("mysql:8.0.36", hub("mysql", "8.0.36"), id="hub-official-dotted-tag"),
    pytest.param("library/mysql", hub("library/mysql"), id="hub-explicit-library"),
    pytest.param("openshift/origin:v3.11", hub("openshift/origin", "v3.11"), id="hub-namespace"),
    pytest.param(
        "docker.io/mysql", hub("mysql", registry="docker.io"), id="hub-docker-io-one-component"
    ),
    pytest.param(
        "docker.io/library/busybox:latest",
        hub("library/busybox", "latest", registry="docker.io"),
        id="hub-docker-io-canonical",
    ),
    pytest.param(
        "index.docker.io/busybox",
        hub("busybox", registry="index.docker.io"),
        id="hub-legacy-index-domain",
    ),
    pytest.param(
        "registry-1.docker.io/openshift/origin",
        hub("openshift/origin", registry="registry-1.docker.io"),
        id="hub-api-host-as-registry",
    ),
    pytest.param("Docker.IO/mysql", hub("mysql", registry="Docker.IO"), id="hub-domain-any-case"),
    # Path separators and component shapes.
    pytest.param("test_com", hub("test_com"), id="path-underscore"),
    pytest.param("a__b", hub("a__b"), id="path-double-underscore"),
    pytest.param("a---b/c.d", hub("a---b/c.d"), id="path-dashes-and-period"),
    pytest.param("foo/foo_bar.com:8080", hub("foo/foo_bar.com", "8080"), id="path-looks-like-host"),
    pytest.param("a/b/c/d/e", hub("a/b/c/d/e"), id="path-deeply-nested"),
    pytest.param("0/1", hub("0/1"), id="path-digits-only"),
    # One component is never a registry, whatever it looks like.
    pytest.param("test.com:tag", hub("test.com", "tag"), id="single-host-like-with-tag"),
    pytest.param("test.com:5000", hub("test.com", "5000"), id="single-host-like-port-is-tag"),
    pytest.param("192.168.1.1", hub("192.168.1.1"), id="single-ipv4-is-path"),
    pytest.param("localhost:5000", hub("localhost", "5000"), id="single-localhost-port-is-tag"),
    # Registries.
    pytest.param("quay.io/openshift/origin-cli", at("quay.io", "openshift/origin-cli"), id="quay"),
    pytest.param("test.com/repo:tag", at("test.com", "repo", "tag"), id="registry-dot"),
    pytest.param(
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        at("sub-dom1.foo.com", "bar/baz/quux", "some-long-tag"),
        id="registry-subdomain-nested-path",
    ),
    pytest.param(
        "b.gcr.io/test.example.com/my-app:test.example.com",
        at("b.gcr.io", "test.example.com/my-app", "test.example.com"),
        id="registry-path-and-tag-look-like-hosts",
    ),
    pytest.param(
        "xn--n3h.com/myimage:xn--n3h.com",
        at("xn--n3h.com", "myimage", "xn--n3h.com"),
        id="registry-punycode",
    ),
    pytest.param("Quay.IO/app", at("Quay.IO", "app"), id="registry-upper-case-host"),
    # Ports.
    pytest.param("test:5000/repo", at("test:5000", "repo"), id="port-dotless-host"),
    pytest.param("test:5000/repo:tag", at("test:5000", "repo", "tag"), id="port-with-tag"),
    pytest.param(
        "test-com:8080/foo/bar", at("test-com:8080", "foo/bar"), id="port-dashed-host-nested"
    ),
    pytest.param(
        "192.168.1.1:5000/repo:5050",
        at("192.168.1.1:5000", "repo", "5050"),
        id="port-ipv4-numeric-tag",
    ),
    pytest.param("192.168.1.1/repo", at("192.168.1.1", "repo"), id="ipv4-no-port"),
    # localhost.
    pytest.param("localhost/foo", at("localhost", "foo"), id="localhost"),
    pytest.param(
        "localhost:5000/team/app:v1", at("localhost:5000", "team/app", "v1"), id="localhost-port"
    ),
    # IPv6 hosts (distribution allows bracketed addresses without zones).
    pytest.param("[2001:db8::1]/repo", at("[2001:db8::1]", "repo"), id="ipv6"),
    pytest.param(
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        at("[2001:db8:1:2:3:4:5:6]", "repo", "tag"),
        id="ipv6-uncompressed",
    ),
    pytest.param("[::1]:5000/repo", at("[::1]:5000", "repo"), id="ipv6-loopback-port"),
    pytest.param(
        "[::ffff:169.254.169.254]:5000/repo",
        at("[::ffff:169.254.169.254]:5000", "repo"),
        id="ipv6-mixed-notation",
    ),
    pytest.param(
        f"[2001:db8::1]:5000/repo:tag@{SHA256}",
        at("[2001:db8::1]:5000", "repo", "tag", SHA256),
        id="ipv6-port-tag-digest",
    ),
    # Tags.
    pytest.param("lowercase:Uppercase", hub("lowercase", "Uppercase"), id="tag-upper-case"),
    pytest.param("app:_private", hub("app", "_private"), id="tag-leading-underscore"),
    pytest.param("app:" + "t" * 128, hub("app", "t" * 128), id="tag-128-chars"),
    # Digests.
    pytest.param(f"mysql@{SHA256}", hub("mysql", digest=SHA256), id="digest-hub"),
    pytest.param(
        f"test:5000/repo@{SHA256}", at("test:5000", "repo", digest=SHA256), id="digest-port"
    ),
    pytest.param(
        f"test:5000/repo:tag@{SHA256}",
        at("test:5000", "repo", "tag", SHA256),
        id="digest-with-tag",
    ),
    pytest.param(f"quay.io/a/b@{SHA384}", at("quay.io", "a/b", digest=SHA384), id="digest-sha384"),
    pytest.param(
        f"xn--7o8h.com/myimage:xn--7o8h.com@{SHA512}",
        at("xn--7o8h.com", "myimage", "xn--7o8h.com", SHA512),
        id="digest-sha512",
    ),
    # Length: the whole name may be 255 characters.
    pytest.param(
        "a/" * 127 + "a:tag-puts-this-over-max",
        hub("a/" * 127 + "a", "tag-puts-this-over-max"),
        id="length-name-255-tag-extra",
    ),
    pytest.param(
        "example.com/" + "a" * 243, at("example.com", "a" * 243), id="length-with-registry-255"
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_parse_valid(text: str, expected: Parsed) -> None:
    # When
    ref = parse(text)

    # Then
    assert (
        Parsed(
            ref.registry, ref.path, ref.tag, ref.digest, ref.domain, ref.repository, ref.api_host
        )
        == expected
    )
    assert ref.exact() == text
    assert str(ref) == text
    assert ref.is_docker_hub == (expected.domain == DOCKER_HUB)


INVALID = [
    pytest.param("", "repository name must have at least one component", id="empty"),
    pytest.param(":justtag", "invalid reference format", id="tag-only"),
    pytest.param(f"@{SHA256}", "invalid reference format", id="digest-only"),
    pytest.param("aa/asdf$$^/aa", "invalid reference format", id="bad-characters"),
    pytest.param("mysql:", "invalid reference format", id="empty-tag"),
    pytest.param("mysql@", "invalid reference format", id="empty-digest"),
    pytest.param("mysql:-8", "invalid reference format", id="tag-leading-dash"),
    pytest.param("mysql:.8", "invalid reference format", id="tag-leading-period"),
    pytest.param("app:" + "t" * 129, "invalid reference format", id="tag-129-chars"),
    pytest.param("mysql:8@latest", "invalid reference format", id="digest-not-a-digest"),
    pytest.param("mysql@sha256:abc", "invalid reference format", id="digest-hex-too-short"),
    pytest.param("/mysql", "invalid reference format", id="leading-slash"),
    pytest.param("mysql/", "invalid reference format", id="trailing-slash"),
    pytest.param("a//b", "invalid reference format", id="empty-component"),
    pytest.param("-a/b", "invalid reference format", id="component-leading-dash"),
    pytest.param("a_/b", "invalid reference format", id="component-trailing-underscore"),
    pytest.param("a___b", "invalid reference format", id="triple-underscore"),
    pytest.param("a..b", "invalid reference format", id="double-period"),
    pytest.param("mysql\n", "invalid reference format", id="trailing-newline"),
    pytest.param(" mysql", "invalid reference format", id="leading-space"),
    pytest.param("myßql", "invalid reference format", id="non-ascii"),
    pytest.param("app:tãg", "invalid reference format", id="non-ascii-tag"),
    pytest.param("foo_bar.com/x", "invalid reference format", id="registry-underscore-host"),
    pytest.param("-bad.com/x", "invalid reference format", id="registry-leading-dash"),
    pytest.param("quay.io:port/x", "invalid reference format", id="registry-port-not-numeric"),
    pytest.param("[2001:db8::1]", "invalid reference format", id="ipv6-alone"),
    pytest.param("[2001:db8::1]:5000", "invalid reference format", id="ipv6-port-alone"),
    pytest.param("[2001:db8::1]:tag", "invalid reference format", id="ipv6-tag-no-path"),
    pytest.param("[fe80::1%eth0]:5000/repo", "invalid reference format", id="ipv6-zone"),
    pytest.param("[::ffff:1.2.3]:5000/repo", "invalid reference format", id="ipv6-short-ipv4-tail"),
    pytest.param(
        "[fe80::1%@invalidzone]:5000/repo", "invalid reference format", id="ipv6-bad-zone"
    ),
    pytest.param("Uppercase:tag", "repository name must be lowercase", id="upper-case-name"),
    pytest.param("MySQL", "repository name must be lowercase", id="upper-case-bare"),
    pytest.param(
        "Uppercase/lowercase:tag",
        "repository name must be lowercase",
        id="upper-case-first-component-is-no-registry",
    ),
    pytest.param(
        "test:5000/Uppercase/lowercase:tag",
        "repository name must be lowercase",
        id="upper-case-after-registry",
    ),
    pytest.param(
        "a/" * 128 + "a:tag",
        "repository name must not be more than 255 characters",
        id="length-257",
    ),
    pytest.param(
        "example.com/" + "a" * 244,
        "repository name must not be more than 255 characters",
        id="length-256-counts-registry",
    ),
    # library-go's digest.Validate (vendored by openshift-apiserver): the length of a
    # known algorithm's hex, then any other algorithm is unsupported.
    pytest.param(
        "repo@sha256:" + "f" * 34, "invalid checksum digest length", id="digest-sha256-short"
    ),
    pytest.param(
        "repo@sha256:" + "f" * 65, "invalid checksum digest length", id="digest-sha256-long"
    ),
    # Ours: library-go lets upper-case hex pass; go-digest (OpenShift's importer) refuses it.
    pytest.param(
        "repo@sha256:" + "F" * 64, "invalid checksum digest format", id="digest-upper-case-hex"
    ),
    pytest.param(
        "repo@sha512:" + "f" * 64, "invalid checksum digest length", id="digest-sha512-short"
    ),
    pytest.param(
        "repo@SHA256:" + "f" * 64, "unsupported digest algorithm", id="digest-upper-case-algorithm"
    ),
    pytest.param(
        "validname@invaliddigest:" + "f" * 64,
        "unsupported digest algorithm",
        id="digest-unknown-algorithm",
    ),
    pytest.param("repo@md5:" + "f" * 32, "unsupported digest algorithm", id="digest-md5"),
    pytest.param(
        "Upper/" + "a" * 300, "repository name must be lowercase", id="format-checked-before-length"
    ),
    pytest.param(
        "a" * 256 + "@md5:" + "f" * 32,
        "repository name must not be more than 255 characters",
        id="length-checked-before-digest",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_parse_invalid(text: str, message: str) -> None:
    # When
    with pytest.raises(InvalidReferenceError) as raised:
        parse(text)

    # Then
    assert str(raised.value) == message


TAG_DEFAULTS = [
    pytest.param("mysql", "latest", id="none-means-latest"),
    pytest.param("mysql:8", "8", id="tag-kept"),
    pytest.param(f"mysql@{SHA256}", "latest", id="digest-only"),
    pytest.param(f"mysql:8@{SHA256}", "8", id="tag-and-digest"),
]


@pytest.mark.parametrize(("text", "expected"), TAG_DEFAULTS)
def test_tag_or_latest(text: str, expected: str) -> None:
    # Given
    ref = parse(text)

    # Then
    assert ref.tag_or_latest == expected


def digest_of(digest: str) -> Derive:
    return lambda ref: ref.with_digest(digest)


def tag_of(tag: str) -> Derive:
    return lambda ref: ref.with_tag(tag)


def untagged(ref: Reference) -> Reference:
    return ref.without_tag()


DERIVED = [
    pytest.param("mysql:8", digest_of(SHA256), f"mysql@{SHA256}", id="digest-replaces-tag"),
    pytest.param("quay.io/a/b", digest_of(SHA256), f"quay.io/a/b@{SHA256}", id="digest-added"),
    pytest.param(
        f"[::1]:5000/repo:tag@{SHA256}",
        digest_of(OTHER_SHA256),
        f"[::1]:5000/repo@{OTHER_SHA256}",
        id="digest-replaced",
    ),
    pytest.param(
        f"docker.io/mysql@{SHA256}", tag_of("8"), "docker.io/mysql:8", id="tag-replaces-digest"
    ),
    pytest.param("localhost:5000/app:v1", tag_of("v2"), "localhost:5000/app:v2", id="tag-replaced"),
    pytest.param("mysql:8", untagged, "mysql", id="without-tag"),
    pytest.param(f"mysql:8@{SHA256}", untagged, f"mysql@{SHA256}", id="without-tag-keeps-digest"),
]


@pytest.mark.parametrize(("text", "derive", "expected"), DERIVED)
def test_derived_references(text: str, derive: Derive, expected: str) -> None:
    # Given
    ref = parse(text)

    # When
    derived = derive(ref)

    # Then
    assert str(derived) == expected
    assert parse(expected) == derived


REPOSITORY_STRINGS = [
    pytest.param(f"test:5000/repo:tag@{SHA256}", "test:5000/repo", id="registry-tag-digest"),
    pytest.param("mysql:8", "mysql", id="hub-as-written"),
    pytest.param("docker.io/mysql", "docker.io/mysql", id="hub-registry-as-written"),
]


@pytest.mark.parametrize(("text", "expected"), REPOSITORY_STRINGS)
def test_repository_string(text: str, expected: str) -> None:
    # Given
    ref = parse(text)

    # Then
    assert ref.repository_string() == expected


# distribution/reference normalize.go splitDockerDomain (through ParseNormalizedNamed), which
# OpenShift's importer prints in per-image errors (importer_test.go TestImport expects
# "docker.io/library/test:latest" for "test" by tag "latest").
NORMALIZED = [
    pytest.param("test:latest", "docker.io/library/test:latest", id="one-component-gets-library"),
    pytest.param("mysql:8", "docker.io/library/mysql:8", id="hub-tag"),
    pytest.param("openshift/origin", "docker.io/openshift/origin", id="hub-two-components"),
    pytest.param("docker.io/mysql", "docker.io/library/mysql", id="hub-domain-gets-library"),
    pytest.param("index.docker.io/mysql", "docker.io/library/mysql", id="legacy-hub-domain"),
    pytest.param(
        "registry-1.docker.io/mysql", "registry-1.docker.io/mysql", id="api-host-as-written"
    ),
    pytest.param(f"test:5000/repo:tag@{SHA256}", f"test:5000/repo:tag@{SHA256}", id="other-host"),
    pytest.param("localhost/app", "localhost/app", id="localhost"),
    pytest.param(f"test@{SHA256}", f"docker.io/library/test@{SHA256}", id="hub-digest"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALIZED)
def test_normalized(text: str, expected: str) -> None:
    # Given
    ref = parse(text)

    # Then
    assert ref.normalized() == expected


BAD_DERIVATIONS = [
    pytest.param(tag_of(""), "invalid tag format", id="tag-empty"),
    pytest.param(tag_of("-x"), "invalid tag format", id="tag-leading-dash"),
    pytest.param(tag_of("a/b"), "invalid tag format", id="tag-slash"),
    pytest.param(tag_of("8\n"), "invalid tag format", id="tag-trailing-newline"),
    pytest.param(digest_of("latest"), "invalid digest format", id="digest-not-one"),
    pytest.param(digest_of("sha256:abc"), "invalid digest format", id="digest-short"),
    pytest.param(digest_of(SHA256 + "\n"), "invalid digest format", id="digest-trailing-newline"),
    pytest.param(
        digest_of("sha256:" + "f" * 40), "invalid checksum digest length", id="digest-wrong-length"
    ),
    pytest.param(
        digest_of("md5:" + "f" * 32), "unsupported digest algorithm", id="digest-unsupported"
    ),
]


@pytest.mark.parametrize(("derive", "message"), BAD_DERIVATIONS)
def test_derivations_validate_their_input(derive: Derive, message: str) -> None:
    # Given
    ref = parse("quay.io/a/b:c")

    # When
    with pytest.raises(InvalidReferenceError) as raised:
        derive(ref)

    # Then
    assert str(raised.value) == message


def test_reference_is_immutable_and_hashable() -> None:
    # Given
    ref = parse("quay.io/a/b:c")

    # Then
    assert {ref, parse("quay.io/a/b:c")} == {ref}
    attribute = "tag"
    with pytest.raises(FrozenInstanceError):
        setattr(ref, attribute, "d")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sha256:" + "a" * 64, True),
        ("sha512:" + "0" * 128, True),
        ("sha384:" + "f" * 96, True),
        ("sha256:" + "A" * 64, False),
        ("sha256:" + "a" * 63, False),
        ("sha1:" + "a" * 40, False),
        ("md5:" + "a" * 32, False),
        ("latest", False),
        ("v1.2", False),
        ("", False),
    ],
    ids=[
        "sha256",
        "sha512",
        "sha384",
        "upper-case-hex",
        "short",
        "sha1",
        "unknown-algorithm",
        "tag",
        "version-tag",
        "empty",
    ],
)
def test_is_digest_is_the_one_test_of_a_digest(text: str, expected: bool) -> None:
    assert is_digest(text) is expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (SHA256, None),
        (SHA512, None),
        ("sha256:" + "A" * 64, "invalid checksum digest format"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("latest", "invalid digest format"),
    ],
    ids=["sha256", "sha512", "upper-case", "unsupported", "a-tag"],
)
def test_a_digest_is_checked_once_when_parsed(text: str, error: str | None) -> None:
    if error is not None:
        with pytest.raises(InvalidReferenceError, match=error):
            Digest.parse(text)
        return
    digest = Digest.parse(text)
    assert isinstance(digest, Digest)
    assert digest == text
    assert f"{digest}" == text
    assert digest.algorithm == text.partition(":")[0]
    assert Digest.parse(digest) is digest


def test_a_parsed_reference_carries_its_digest_as_a_digest() -> None:
    assert isinstance(parse(f"quay.io/a/b@{SHA256}").digest, Digest)
    assert isinstance(parse("quay.io/a/b:v1").with_digest(SHA256).digest, Digest)
