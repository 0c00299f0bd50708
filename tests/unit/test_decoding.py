"""Requests decoded as the Kubernetes API server decodes them (DESIGN sections 3 and 12).

The expected messages are k8s.io/apiserver's (``transformDecodeError``,
``negotiation``, CreateOptions/DeleteOptions validation) around
k8s.io/apimachinery's and sigs.k8s.io/json's decoding errors.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from imagestreams.api.decoding import (
    Deletion,
    WriteOptions,
    delete_options,
    parse_import_request,
    write_options,
)
from imagestreams.api.responses import warning_headers
from imagestreams.api.strict import FieldValidation
from imagestreams.errors import (
    BadRequestError,
    RequestError,
    UnsupportedMediaTypeError,
    ValidationError,
)

CANNOT = 'ImageStreamImport in version "v1" cannot be handled as a ImageStreamImport: '
UNRECOGNIZED = "the object provided is unrecognized (must be of type ImageStreamImport): "


def document(**spec: Any) -> dict[str, Any]:
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {"name": "app"},
        "spec": {"import": False, "images": [{"from": {"kind": "DockerImage", "name": "busybox"}}]}
        | spec,
    }


def image(**fields: Any) -> dict[str, Any]:
    return {"from": {"kind": "DockerImage", "name": "busybox"}, **fields}


def parse(
    raw: str | dict[str, Any],
    *,
    content_type: str | None = "application/json",
    query: dict[str, list[str]] | None = None,
) -> Any:
    text = raw if isinstance(raw, str) else json.dumps(raw)
    return parse_import_request(
        text, "demo", content_type=content_type, query=query, max_bytes=1 << 20
    )


def refusal(raw: str | dict[str, Any], **kwargs: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse(raw, **kwargs)
    return caught.value


# --- strict types --------------------------------------------------------------

TYPE_ERRORS = [
    (
        "import-yes",
        document(**{"import": "yes"}),
        "json: cannot unmarshal string into Go struct field ImageStreamImportSpec.spec.import"
        " of type bool",
    ),
    (
        "import-1",
        document(**{"import": 1}),
        "json: cannot unmarshal number into Go struct field ImageStreamImportSpec.spec.import"
        " of type bool",
    ),
    (
        "import-string-1",
        document(**{"import": "1"}),
        "json: cannot unmarshal string into Go struct field ImageStreamImportSpec.spec.import"
        " of type bool",
    ),
    (
        "include-manifest-string",
        document(images=[image(includeManifest="true")]),
        "json: cannot unmarshal string into Go struct field"
        " ImageImportSpec.spec.images.includeManifest of type bool",
    ),
    (
        "scheduled-number",
        document(images=[image(importPolicy={"scheduled": 0})]),
        "json: cannot unmarshal number into Go struct field"
        " TagImportPolicy.spec.images.importPolicy.scheduled of type bool",
    ),
    (
        "name-number",
        {**document(), "metadata": {"name": 5}},
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name"
        " of type string",
    ),
    (
        "from-name-bool",
        document(images=[{"from": {"kind": "DockerImage", "name": True}}]),
        "json: cannot unmarshal bool into Go struct field"
        " ObjectReference.spec.images.from.name of type string",
    ),
    (
        "images-not-a-list",
        document(images="busybox"),
        "json: cannot unmarshal string into Go struct field ImageStreamImportSpec.spec.images"
        " of type []v1.ImageImportSpec",
    ),
    (
        "repository-a-list",
        document(repository=[]),
        "json: cannot unmarshal array into Go struct field"
        " ImageStreamImportSpec.spec.repository of type v1.RepositoryImportSpec",
    ),
    (
        "label-value-number",
        {**document(), "metadata": {"name": "app", "labels": {"a": 1}}},
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels"
        " of type string",
    ),
    (
        "generation-fraction",
        {**document(), "metadata": {"name": "app", "generation": 1.5}},
        "json: cannot unmarshal number 1.5 into Go struct field ObjectMeta.metadata.generation"
        " of type int64",
    ),
    (
        "first-error-wins",
        document(**{"import": "no"}, images=[image(includeManifest=1)]),
        "json: cannot unmarshal string into Go struct field ImageStreamImportSpec.spec.import"
        " of type bool",
    ),
]


@pytest.mark.parametrize(
    ("body", "problem"), [c[1:] for c in TYPE_ERRORS], ids=[c[0] for c in TYPE_ERRORS]
)
def test_a_value_of_the_wrong_type_is_a_bad_request_naming_the_field(
    body: dict[str, Any], problem: str
) -> None:
    error = refusal(body)

    assert (error.code, error.reason) == (400, "BadRequest")
    assert error.message == CANNOT + problem


def test_null_is_an_unset_field_not_a_type_error() -> None:
    valid = parse(document(**{"import": None})).valid

    assert valid.request.spec.import_ is False


# --- kind and apiVersion -------------------------------------------------------

TYPE_META = [
    (
        "kind-of-another-type",
        {"kind": "ImageStream"},
        'ImageStream in version "v1" cannot be handled as a ImageStreamImport: converting'
        " (v1.ImageStream) to (image.ImageStreamImport): unknown conversion",
    ),
    (
        "unknown-kind",
        {"kind": "Pod"},
        'Pod in version "v1" cannot be handled as a ImageStreamImport: no kind "Pod" is'
        ' registered for version "image.openshift.io/v1" in scheme "imagestreams/api/decoding.py"',
    ),
    (
        "other-group",
        {"apiVersion": "apps/v1"},
        CANNOT + 'no kind "ImageStreamImport" is registered for version "apps/v1" in scheme'
        ' "imagestreams/api/decoding.py"',
    ),
    (
        "other-version",
        {"apiVersion": "image.openshift.io/v2"},
        'ImageStreamImport in version "v2" cannot be handled as a ImageStreamImport: no kind'
        ' "ImageStreamImport" is registered for version "image.openshift.io/v2" in scheme'
        ' "imagestreams/api/decoding.py"',
    ),
    (
        "legacy-v1",
        {"apiVersion": "v1"},
        "the API version in the data (v1) does not match the expected API version"
        " (image.openshift.io/v1)",
    ),
    (
        "kind-a-number",
        {"kind": 5},
        UNRECOGNIZED + "couldn't get version/kind; json parse error: json: cannot unmarshal"
        ' number into Go struct field .kind of type string ({"kind": 5, "apiVersion": "ima ...)',
    ),
    (
        "api-version-two-slashes",
        {"apiVersion": "a/b/c"},
        UNRECOGNIZED + 'unexpected GroupVersion string: a/b/c ({"kind": "ImageStreamImport",  ...)',
    ),
]


@pytest.mark.parametrize(
    ("type_meta", "message"), [c[1:] for c in TYPE_META], ids=[c[0] for c in TYPE_META]
)
def test_kind_and_api_version_name_an_image_stream_import(
    type_meta: dict[str, Any], message: str
) -> None:
    error = refusal({**document(), **type_meta})

    assert (error.code, error.reason, error.message) == (400, "BadRequest", message)


@pytest.mark.parametrize(
    "missing", [["kind"], ["apiVersion"], ["kind", "apiVersion"]], ids=["kind", "version", "both"]
)
def test_missing_kind_or_api_version_default_to_the_route_as_the_api_server_does(
    missing: list[str],
) -> None:
    body = {k: v for k, v in document().items() if k not in missing}

    request = parse(body)

    assert request.valid.request.kind == "ImageStreamImport"
    assert request.valid.request.api_version == "image.openshift.io/v1"


# --- bodies that are no object -----------------------------------------------------

UNREADABLE = [
    (
        "empty",
        "",
        "couldn't get version/kind; json parse error: unexpected end of JSON input (<empty>)",
    ),
    (
        "not-json",
        "{not json",
        "couldn't get version/kind; json parse error: invalid character 'n' looking for"
        " beginning of object key string ({not json)",
    ),
    (
        "missing-comma",
        '{"a": 1 "b": 2}',
        "couldn't get version/kind; json parse error: invalid character '\"' after object"
        ' key:value pair ({"a": 1 "b": 2})',
    ),
    (
        "truncated",
        '{"kind": "ImageStreamImport"',
        "couldn't get version/kind; json parse error: unexpected end of JSON input"
        ' ({"kind": "ImageStreamImport")',
    ),
    (
        "array",
        "[1, 2]",
        "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go"
        ' value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind'
        ' string "json:\\"kind,omitempty\\"" } (5b312c20325d)',
    ),
]


@pytest.mark.parametrize(
    ("raw", "problem"), [c[1:] for c in UNREADABLE], ids=[c[0] for c in UNREADABLE]
)
def test_a_body_that_is_no_object_is_unrecognized(raw: str, problem: str) -> None:
    error = refusal(raw)

    assert (error.code, error.message) == (400, UNRECOGNIZED + problem)


def test_a_body_nested_too_deep_is_unrecognized() -> None:
    error = refusal('{"metadata": ' * 1000 + "{}" + "}" * 1000)

    assert error.code == 400
    assert "nested more than 100 levels deep" in error.message


# --- media types --------------------------------------------------------------------

YAML_BODY = """\
kind: ImageStreamImport
apiVersion: image.openshift.io/v1
metadata:
  name: app
spec:
  import: false
  images:
  - from:
      kind: DockerImage
      name: busybox
"""


@pytest.mark.parametrize(
    "content_type", ["application/yaml", "application/yaml; charset=utf-8", "APPLICATION/YAML"]
)
def test_a_yaml_body_is_the_same_request_as_its_json(content_type: str) -> None:
    from_yaml = parse(YAML_BODY, content_type=content_type)
    from_json = parse(json.dumps(yaml.safe_load(YAML_BODY)))

    assert from_yaml.valid.request == from_json.valid.request
    assert from_yaml.warnings == ()


@pytest.mark.parametrize(
    "content_type", [None, "", "application/json", "application/json;charset=UTF-8"]
)
def test_json_is_read_with_or_without_a_content_type(content_type: str | None) -> None:
    assert parse(document(), content_type=content_type).valid.request.metadata.name == "app"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
        "application/vnd.kubernetes.protobuf",
        "json",
        "application/json; charset",
    ],
)
def test_other_media_types_are_unsupported(content_type: str) -> None:
    error = refusal(document(), content_type=content_type)

    assert isinstance(error, UnsupportedMediaTypeError)
    assert (error.code, error.reason, error.message) == (
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include:"
        " application/json, application/yaml",
    )


def test_yaml_types_are_strict_too() -> None:
    error = refusal(
        YAML_BODY.replace("import: false", 'import: "no"'), content_type="application/yaml"
    )

    assert error.message == CANNOT + (
        "json: cannot unmarshal string into Go struct field ImageStreamImportSpec.spec.import"
        " of type bool"
    )


def test_a_yaml_syntax_error_is_unrecognized() -> None:
    error = refusal("kind: [\n", content_type="application/yaml")

    assert error.code == 400
    assert error.message.startswith(UNRECOGNIZED + "error converting YAML to JSON: yaml: line ")


# --- unknown and duplicate fields -----------------------------------------------------

UNKNOWN = document(images=[image(surprise=1)], extra={"a": 1})
DUPLICATE = '{"kind": "ImageStreamImport", "metadata": {"name": "app"}, "spec": {"import": true, "images": [{"from": {"kind": "DockerImage", "name": "busybox"}}], "import": false}}'  # noqa: E501


@pytest.mark.parametrize(
    ("query", "warnings"),
    [
        ({}, ('unknown field "spec.images[0].surprise"', 'unknown field "spec.extra"')),
        (
            {"fieldValidation": ["Warn"]},
            ('unknown field "spec.images[0].surprise"', 'unknown field "spec.extra"'),
        ),
        ({"fieldValidation": ["Ignore"]}, ()),
    ],
    ids=["default-warn", "warn", "ignore"],
)
def test_unknown_fields_are_warned_about_or_ignored(
    query: dict[str, list[str]], warnings: tuple[str, ...]
) -> None:
    request = parse(UNKNOWN, query=query)

    assert request.warnings == warnings
    assert request.valid.request.spec.images[0].from_.name == "busybox"


def test_unknown_fields_are_refused_when_strict() -> None:
    error = refusal(UNKNOWN, query={"fieldValidation": ["Strict"]})

    assert (error.code, error.reason, error.message) == (
        400,
        "BadRequest",
        CANNOT + 'strict decoding error: unknown field "spec.images[0].surprise",'
        ' unknown field "spec.extra"',
    )


def test_python_field_names_are_unknown_fields() -> None:
    request = parse(document(images=[image(include_manifest=True)]))

    assert request.warnings == ('unknown field "spec.images[0].include_manifest"',)
    assert request.valid.request.spec.images[0].include_manifest is False


def test_a_duplicate_field_is_warned_about_and_the_last_value_wins() -> None:
    request = parse(DUPLICATE)

    assert request.warnings == ('duplicate field "spec.import"',)
    assert request.valid.request.spec.import_ is False


def test_a_duplicate_field_is_refused_when_strict() -> None:
    error = refusal(DUPLICATE, query={"fieldValidation": ["Strict"]})

    assert error.message == CANNOT + 'strict decoding error: duplicate field "spec.import"'


def test_a_repeated_object_member_merges_as_go_decodes_it() -> None:
    raw = (
        '{"metadata": {"name": "app"}, "metadata": {"labels": {"a": "b"}},'
        ' "spec": {"images": [{"from": {"kind": "DockerImage", "name": "busybox"}}]}}'
    )

    request = parse(raw, query={"fieldValidation": ["Ignore"]})

    assert request.valid.request.metadata.name == "app"
    assert request.valid.request.metadata.labels == {"a": "b"}


def test_a_duplicate_yaml_key_is_yaml_s_strict_error() -> None:
    body = YAML_BODY.replace("  import: false\n", "  import: false\n  import: true\n  extra: 1\n")

    warned = parse(body, content_type="application/yaml")
    error = refusal(body, content_type="application/yaml", query={"fieldValidation": ["Strict"]})

    assert warned.warnings == (
        'line 7: key "import" already set in map',
        'unknown field "spec.extra"',
    )
    assert error.message == CANNOT + (
        "strict decoding error: error converting YAML to JSON: yaml: unmarshal errors:\n"
        '  line 7: key "import" already set in map, unknown field "spec.extra"'
    )


def test_warning_headers_are_the_api_server_s() -> None:
    headers = warning_headers(['unknown field "spec.foo"', 'unknown field "spec.foo"', "a\\b"])

    assert headers == ['299 - "unknown field \\"spec.foo\\""', '299 - "a\\\\b"']


def test_many_warnings_are_cut_short_as_the_api_server_cuts_them() -> None:
    warnings = [f"unknown field {i}: " + "x" * 300 for i in range(20)]

    headers = warning_headers(warnings)

    assert all(len(h) == len('299 - ""') + 256 for h in headers)
    assert len(headers) == 16


# --- query options --------------------------------------------------------------------

OPTIONS = [
    ("none", {}, WriteOptions(False, FieldValidation.WARN)),
    ("dry-run-all", {"dryRun": ["All"]}, WriteOptions(True, FieldValidation.WARN)),
    ("strict", {"fieldValidation": ["Strict"]}, WriteOptions(False, FieldValidation.STRICT)),
    ("ignore", {"fieldValidation": ["Ignore"]}, WriteOptions(False, FieldValidation.IGNORE)),
    ("empty-directive", {"fieldValidation": [""]}, WriteOptions(False, FieldValidation.WARN)),
]


@pytest.mark.parametrize(
    ("query", "options"), [c[1:] for c in OPTIONS], ids=[c[0] for c in OPTIONS]
)
def test_write_options_from_the_query(query: dict[str, list[str]], options: WriteOptions) -> None:
    assert write_options(query) == options


BAD_OPTIONS = [
    (
        "dry-run-true",
        {"dryRun": ["true"]},
        "dryRun",
        'Unsupported value: ["true"]: supported values: "All"',
    ),
    (
        "dry-run-empty",
        {"dryRun": [""]},
        "dryRun",
        'Unsupported value: [""]: supported values: "All"',
    ),
    (
        "dry-run-all-and-more",
        {"dryRun": ["All", "None"]},
        "dryRun",
        'Unsupported value: ["All","None"]: supported values: "All"',
    ),
    (
        "field-validation-lowercase",
        {"fieldValidation": ["strict"]},
        "fieldValidation",
        'Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"',
    ),
]


@pytest.mark.parametrize(
    ("query", "field", "body"), [c[1:] for c in BAD_OPTIONS], ids=[c[0] for c in BAD_OPTIONS]
)
def test_invalid_options_are_the_api_server_s_invalid_create_options(
    query: dict[str, list[str]], field: str, body: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(document(), query=query)

    error = caught.value
    assert (error.code, error.reason, error.group, error.kind, error.name) == (
        422,
        "Invalid",
        "meta.k8s.io",
        "CreateOptions",
        "",
    )
    assert [(c.field, c.reason, c.body) for c in error.causes] == [
        (field, "FieldValueNotSupported", body)
    ]
    assert error.message == f'CreateOptions.meta.k8s.io "" is invalid: {field}: {body}'


def test_options_are_checked_before_the_body() -> None:
    with pytest.raises(ValidationError):
        parse("{not json", query={"dryRun": ["yes"]})


def test_the_options_come_back_with_the_request() -> None:
    request = parse(document(), query={"dryRun": ["All"], "fieldValidation": ["Strict"]})

    assert request.options == WriteOptions(True, FieldValidation.STRICT)


# --- DeleteOptions ----------------------------------------------------------------------

DELETIONS = [
    ("nothing", None, None, {}, Deletion()),
    ("query-dry-run", None, None, {"dryRun": ["All"]}, Deletion(dry_run=True)),
    (
        "query-grace-and-policy",
        None,
        None,
        {"gracePeriodSeconds": ["0"], "propagationPolicy": ["Background"]},
        Deletion(grace_period_seconds=0, propagation_policy="Background"),
    ),
    (
        "kubectl-dry-run-server",
        '{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background","dryRun":["All"]}',
        "application/json",
        {},
        Deletion(dry_run=True, propagation_policy="Background"),
    ),
    (
        "preconditions",
        json.dumps(
            {
                "kind": "DeleteOptions",
                "apiVersion": "meta.k8s.io/v1",
                "preconditions": {"uid": "u-1", "resourceVersion": "7"},
                "gracePeriodSeconds": 30,
            }
        ),
        None,
        {},
        Deletion(grace_period_seconds=30, uid="u-1", resource_version="7"),
    ),
    (
        "body-wins-over-query",
        '{"propagationPolicy": "Foreground"}',
        "application/json",
        {"dryRun": ["All"]},
        Deletion(propagation_policy="Foreground"),
    ),
    (
        "yaml",
        "kind: DeleteOptions\napiVersion: v1\ndryRun: [All]\nsurprise: 1\n",
        "application/yaml",
        {},
        Deletion(dry_run=True),
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "query", "deletion"),
    [c[1:] for c in DELETIONS],
    ids=[c[0] for c in DELETIONS],
)
def test_delete_options_from_the_body_or_else_the_query(
    body: str | None, content_type: str | None, query: dict[str, list[str]], deletion: Deletion
) -> None:
    assert delete_options(body, content_type, query) == deletion


BAD_DELETIONS = [
    (
        "dry-run-not-all",
        '{"dryRun": ["true"]}',
        {},
        422,
        'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["true"]:'
        ' supported values: "All"',
    ),
    (
        "query-dry-run-not-all",
        None,
        {"dryRun": ["server"]},
        422,
        'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ["server"]:'
        ' supported values: "All"',
    ),
    (
        "unknown-policy",
        '{"propagationPolicy": "Later"}',
        {},
        422,
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Later":'
        ' supported values: "Foreground", "Background", "Orphan", "nil"',
    ),
    (
        "orphan-and-policy",
        '{"orphanDependents": true, "propagationPolicy": "Orphan"}',
        {},
        422,
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan":'
        " orphanDependents and deletionPropagation cannot be both set",
    ),
    (
        "grace-a-string",
        '{"gracePeriodSeconds": "30"}',
        {},
        400,
        "json: cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds"
        " of type int64",
    ),
    (
        "dry-run-a-string",
        '{"dryRun": "All"}',
        {},
        400,
        "json: cannot unmarshal string into Go struct field DeleteOptions.dryRun of type []string",
    ),
    (
        "uid-a-number",
        '{"preconditions": {"uid": 1}}',
        {},
        400,
        "json: cannot unmarshal number into Go struct field Preconditions.preconditions.uid"
        " of type string",
    ),
    (
        "another-kind",
        '{"kind": "Pod", "apiVersion": "v1"}',
        {},
        400,
        'no kind "Pod" is registered for version "v1" in scheme'
        ' "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme/register.go:27"',
    ),
    (
        "not-json",
        "{",
        {},
        400,
        "couldn't get version/kind; json parse error: unexpected end of JSON input",
    ),
    (
        "query-grace-not-a-number",
        None,
        {"gracePeriodSeconds": ["soon"]},
        400,
        'strconv.ParseInt: parsing "soon": invalid syntax',
    ),
]


@pytest.mark.parametrize(
    ("body", "query", "code", "message"),
    [c[1:] for c in BAD_DELETIONS],
    ids=[c[0] for c in BAD_DELETIONS],
)
def test_invalid_delete_options_are_refused_as_the_api_server_refuses_them(
    body: str | None, query: dict[str, list[str]], code: int, message: str
) -> None:
    with pytest.raises(RequestError) as caught:
        delete_options(body, "application/json", query)

    assert (caught.value.code, caught.value.message) == (code, message)


def test_a_delete_body_in_another_format_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        delete_options('{"dryRun": ["All"]}', "text/plain", {})


def test_a_bad_request_is_a_bad_request_error() -> None:
    assert isinstance(refusal(document(**{"import": "yes"})), BadRequestError)
