"""Validation and defaulting of ImageStreamImport requests (DESIGN section 3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagestreams.api import validation
from imagestreams.api.decoding import parse_import_request
from imagestreams.api.validation import apply_defaults
from imagestreams.errors import BadRequestError, PayloadTooLargeError, ValidationError
from imagestreams.imports.plan import ValidImport


def body(images: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": "app"},
        "spec": {"import": False, **spec},
    }
    if images is not None:
        document["spec"]["images"] = images
    return document


def docker(name: str, **extra: Any) -> dict[str, Any]:
    return {"from": {"kind": "DockerImage", "name": name}, **extra}


def parse(document: Any, namespace: str = "demo") -> Any:
    """The validated request (its references are :func:`parse_valid`'s)."""
    return parse_valid(document, namespace).request


def parse_valid(document: Any, namespace: str = "demo") -> ValidImport:
    return parse_import_request(json.dumps(document), namespace, max_bytes=1 << 20).valid


INVALID = [
    (
        "kind-not-docker",
        body([{"from": {"kind": "ImageStreamTag", "name": "a:b"}}]),
        "spec.images[0].from.kind",
        'Invalid value: "ImageStreamTag": only DockerImage is supported',
    ),
    ("empty-name", body([docker("")]), "spec.images[0].from.name", "Required value"),
    (
        "uppercase",
        body([docker("Foo/Bar:1")]),
        "spec.images[0].from.name",
        'Invalid value: "Foo/Bar:1": repository name must be lowercase',
    ),
    (
        "bad-format",
        body([docker("a:b:c")]),
        "spec.images[0].from.name",
        'Invalid value: "a:b:c": invalid reference format',
    ),
    (
        "second-entry",
        body([docker("busybox"), docker("bad tag")]),
        "spec.images[1].from.name",
        'Invalid value: "bad tag": invalid reference format',
    ),
    (
        "empty-to",
        body([docker("busybox", to={"name": ""})]),
        "spec.images[0].to.name",
        'Invalid value: "": the name of the target tag must be specified',
    ),
    (
        "import-mode",
        body([docker("busybox", importPolicy={"importMode": "Everything"})]),
        "spec.images[0].importPolicy.importMode",
        'Invalid value: "Everything": invalid import mode, valid modes are '
        "'', 'Legacy', 'PreserveOriginal'",
    ),
    (
        "reference-policy-when-importing",
        body([docker("busybox", referencePolicy={"type": "Remote"})], **{"import": True}),
        "spec.images[0].referencePolicy.type",
        'Invalid value: "Remote": valid values are "Source", "Local"',
    ),
    (
        "repository-with-tag",
        body(repository={"from": {"kind": "DockerImage", "name": "busybox:1"}}),
        "spec.repository.from.name",
        'Invalid value: "busybox:1": you must specify an image repository, not a tag or ID',
    ),
    (
        "repository-kind",
        body(repository={"from": {"kind": "ImageStream", "name": "x"}}),
        "spec.repository.from.kind",
        "only DockerImage is supported",
    ),
    (
        "nothing",
        body([]),
        "spec.images",
        "you must specify at least one image or a repository import",
    ),
    ("no-name", {**body([docker("busybox")]), "metadata": {}}, "metadata.name", "Required value"),
    (
        "bad-name",
        {**body([docker("busybox")]), "metadata": {"name": "Bad_Name"}},
        "metadata.name",
        'Invalid value: "Bad_Name": must match "[a-z0-9]+(?:[._-][a-z0-9]+)*"',
    ),
    (
        "missing-from",
        body([{"to": {"name": "x"}}]),
        "spec.images[0].from.kind",
        'Invalid value: "": only DockerImage is supported',
    ),
    (
        "tag-too-long",
        body([docker("busybox", to={"name": "t" * 2000})]),
        "spec.images[0].to.name",
        "a tag must be at most 128 characters",
    ),
    (
        "tag-129",
        body([docker("busybox", to={"name": "t" * 129})]),
        "spec.images[0].to.name",
        "a tag must be at most 128 characters",
    ),
    (
        "tag-lone-surrogate",
        body([docker("busybox", to={"name": "v\ud800"})]),
        "spec.images[0].to.name",
        'Invalid value: "v\ufffd": a tag must',
    ),
    (
        "tag-leading-dash",
        body([docker("busybox", to={"name": "-v1"})]),
        "spec.images[0].to.name",
        "not starting with '.' or '-'",
    ),
    (
        "tag-with-slash",
        body([docker("busybox", to={"name": "a/b"})]),
        "spec.images[0].to.name",
        "a tag must",
    ),
    (
        "label-value-surrogate",
        {**body([docker("busybox")]), "metadata": {"name": "app", "labels": {"a": "\udc00"}}},
        "metadata.labels",
        "a valid label must be an empty string",
    ),
    (
        "label-key",
        {**body([docker("busybox")]), "metadata": {"name": "app", "labels": {"-a": "b"}}},
        "metadata.labels",
        "name part must consist of alphanumeric characters",
    ),
    (
        "label-value-too-long",
        {**body([docker("busybox")]), "metadata": {"name": "app", "labels": {"a": "b" * 64}}},
        "metadata.labels",
        "must be no more than 63 characters",
    ),
    (
        "annotation-key",
        {**body([docker("busybox")]), "metadata": {"name": "app", "annotations": {"a b": ""}}},
        "metadata.annotations",
        "name part must consist of alphanumeric characters",
    ),
    (
        "annotations-too-large",
        {
            **body([docker("busybox")]),
            "metadata": {"name": "app", "annotations": {"big": "x" * (256 * 1024)}},
        },
        "metadata.annotations",
        "Too long: must have at most 262144 bytes",
    ),
]


@pytest.mark.parametrize(
    "tag", ["latest", "v1.2.3-rc_1", "_x", "T" * 128], ids=["latest", "semver", "underscore", "128"]
)
def test_valid_target_tags_are_accepted(tag: str) -> None:
    assert parse(body([docker("busybox", to={"name": tag})])).spec.images[0].to.name == tag


def test_lone_surrogates_in_annotations_are_stored_as_replacement_characters() -> None:
    raw = json.dumps(body([docker("busybox")])).replace(
        '"metadata": {"name": "app"}',
        '"metadata": {"name": "app", "annotations": {"a": "x\\ud800"}}',
    )
    valid = parse_import_request(raw, "demo", max_bytes=1 << 20).valid
    assert valid.request.metadata.annotations == {"a": "x\ufffd"}


def test_a_body_nested_too_deep_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="nested more than 100 levels deep"):
        parse_import_request(
            '{"metadata": ' * 100_000 + "{}" + "}" * 100_000,
            "demo",
            max_bytes=10 << 20,
        )


@pytest.mark.parametrize(
    ("document", "field", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_requests_name_the_field(
    document: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(document)
    causes = {c.field: c.body for c in caught.value.causes}
    assert field in causes, causes
    assert message in causes[field]
    assert str(caught.value).startswith('ImageStreamImport.image.openshift.io "')


def test_every_invalid_field_is_listed() -> None:
    with pytest.raises(ValidationError) as caught:
        parse(body([docker(""), {"from": {"kind": "Nope", "name": "x"}}]))
    assert [c.field for c in caught.value.causes] == [
        "spec.images[0].from.name",
        "spec.images[1].from.kind",
    ]
    assert " is invalid: [" in str(caught.value)


def test_invalid_namespace_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        parse(body([docker("busybox")]), namespace="Not_A_Namespace")
    assert caught.value.causes[0].field == "metadata.namespace"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("{not json", BadRequestError),
        ("[1, 2]", BadRequestError),
        ("", BadRequestError),
        ('{"kind": "Pod"}', BadRequestError),
        ('{"apiVersion": "apps/v1"}', BadRequestError),
        ("{" + " " * (1 << 20) + "}", PayloadTooLargeError),
    ],
    ids=["not-json", "array", "empty", "wrong-kind", "wrong-version", "too-large"],
)
def test_bodies_that_are_not_an_import(raw: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_import_request(raw, "demo", max_bytes=1 << 20)


def test_namespace_in_body_must_match_the_path() -> None:
    document = body([docker("busybox")])
    document["metadata"]["namespace"] = "other"
    with pytest.raises(BadRequestError, match="does not match"):
        parse(document)


def test_unknown_fields_are_warned_about_and_dropped() -> None:
    document = body([docker("busybox", surprise=1)], extra={"a": 1})
    document["unexpected"] = True
    request = parse_import_request(json.dumps(document), "demo", max_bytes=1 << 20)
    assert request.valid.request.spec.images[0].from_.name == "busybox"
    assert request.warnings == (
        'unknown field "spec.extra"',
        'unknown field "spec.images[0].surprise"',
        'unknown field "unexpected"',
    )


@pytest.mark.parametrize(
    ("image", "to", "mode", "policy"),
    [
        (docker("mysql:8"), "8", "Legacy", "Source"),
        (docker("mysql"), None, "Legacy", "Source"),
        (docker("mysql@sha256:" + "b" * 64), None, "Legacy", "Source"),
        (docker("mysql:8", to={"name": "stable"}), "stable", "Legacy", "Source"),
        (
            docker(
                "mysql:8",
                importPolicy={"importMode": "PreserveOriginal"},
                referencePolicy={"type": "Local"},
            ),
            "8",
            "PreserveOriginal",
            "Local",
        ),
    ],
    ids=["to-from-tag", "no-tag-no-to", "digest-no-to", "explicit-to", "explicit-policies"],
)
def test_defaults(image: dict[str, Any], to: str | None, mode: str, policy: str) -> None:
    valid = parse_valid(body([image]))
    spec = apply_defaults(valid.request, valid.references, "Legacy").spec.images[0]
    assert (spec.to.name if spec.to else None) == to
    assert spec.import_policy.import_mode == mode
    assert spec.reference_policy.type == policy


def test_more_images_than_allowed_is_one_too_many_cause() -> None:
    document = body([docker("busybox")] * 3)

    with pytest.raises(ValidationError) as caught:
        parse_import_request(json.dumps(document), "demo", max_bytes=1 << 20, max_images=2)

    assert [(c.field, c.reason, c.body) for c in caught.value.causes] == [
        ("spec.images", "FieldValueTooMany", "Too many: 3: must have at most 2 items")
    ]


# apimachinery path.ValidatePathSegmentName, validation.IsDNS1123Label and openshift-apiserver
# ValidateImageStreamName: every reason, in their order.
NAME_RULES = [
    pytest.param(validation.path_segment_problems, "..", False, ["may not be '..'"], id="dot-dot"),
    pytest.param(validation.path_segment_problems, "..", True, [], id="prefix-dot-dot"),
    pytest.param(
        validation.path_segment_problems,
        "a/b%c",
        False,
        ["may not contain '/'", "may not contain '%'"],
        id="slash-and-percent",
    ),
    pytest.param(validation.path_segment_problems, "web:1.0", False, [], id="tag-name"),
    pytest.param(validation.stream_name_problems, "a_b.c-d", False, [], id="stream-separators"),
    pytest.param(
        validation.stream_name_problems,
        "a__b",
        False,
        ['must match "[a-z0-9]+(?:[._-][a-z0-9]+)*"'],
        id="stream-double-separator",
    ),
    pytest.param(
        validation.stream_name_problems,
        "web-",
        True,
        ['must match "[a-z0-9]+(?:[._-][a-z0-9]+)*"'],
        id="stream-prefix-held-whole",
    ),
    pytest.param(
        validation.stream_name_problems,
        "Web/x",
        False,
        ["may not contain '/'"],
        id="stream-path-segment-first",
    ),
    pytest.param(validation.stream_name_problems, "x" * 300, False, [], id="stream-no-length"),
]


@pytest.mark.parametrize(("rule", "name", "prefix", "problems"), NAME_RULES)
def test_name_rules_give_every_reason(
    rule: validation.NameRule, name: str, prefix: bool, problems: list[str]
) -> None:
    assert rule(name, prefix) == problems


@pytest.mark.parametrize(
    ("namespace", "problems"),
    [
        ("team-a", []),
        ("a.b", ["must not contain dots"]),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("-" * 64, ["must be no more than 63 characters", "a lowercase RFC 1123 label"]),
    ],
    ids=["valid", "dots", "too-long", "too-long-and-malformed"],
)
def test_namespace_rules_are_is_dns1123_label(namespace: str, problems: list[str]) -> None:
    found = validation.namespace_problems(namespace)
    assert len(found) == len(problems)
    assert all(f.startswith(p) for f, p in zip(found, problems, strict=True))
