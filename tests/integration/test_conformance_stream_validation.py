"""OpenShift's validation of ImageStreams and ImageStreamTags, case by case.

Rows as in ``test_conformance_validation``: each mirrors a case of
openshift-apiserver's ``validation_test.go`` (or the function named in its
comment), sent through the real api handler; "ours" marks a difference the
README lists.
"""

from __future__ import annotations

from typing import Any

import pytest

from testkit.api import Api
from testkit.registry import Registry
from tests.support.conformance import (
    BY_DIGEST,
    IMPORT_MODE_MESSAGE,
    NAME_191,
    NAME_192,
    NAME_PATTERN,
    NAMESPACE_63,
    NAMESPACE_MESSAGE,
    PUSHED,
    Accepted,
    Refused,
    invalid,
    istag,
    required,
    send_accepted,
    send_refused,
    spec_tag,
    stream,
)

REFUSED = [
    # --- ImageStream: TestValidateImageStream -------------------------------------------
    # validation_test.go TestValidateImageStream "missing name"
    pytest.param(
        Refused(
            "imagestreams",
            stream(None),
            [required("metadata.name", "name or generateName is required")],
        ),
        id="is-missing-name",
    ),
    # validation_test.go TestValidateImageStream "no slash in Name"
    pytest.param(
        Refused(
            "imagestreams",
            stream("foo/bar"),
            [invalid("metadata.name", "foo/bar", "may not contain '/'")],
        ),
        id="is-no-slash-in-name",
    ),
    # validation_test.go TestValidateImageStream "no percent in Name"
    pytest.param(
        Refused(
            "imagestreams",
            stream("foo%%bar"),
            [invalid("metadata.name", "foo%%bar", "may not contain '%'")],
        ),
        id="is-no-percent-in-name",
    ),
    # validation_test.go TestValidateImageStream "other invalid name"
    pytest.param(
        Refused(
            "imagestreams",
            stream("foo bar"),
            [invalid("metadata.name", "foo bar", f'must match "{NAME_PATTERN}"')],
        ),
        id="is-other-invalid-name",
    ),
    # validation_test.go TestValidateImageStream "invalid namespace"
    pytest.param(
        Refused(
            "imagestreams",
            stream(),
            [invalid("metadata.namespace", "!$", NAMESPACE_MESSAGE)],
            namespace="!$",
        ),
        id="is-invalid-namespace",
    ),
    # validation_test.go TestValidateImageStream "referencePolicy.type must be valid"
    pytest.param(
        Refused(
            "imagestreams",
            stream("foo", spec_tag("tag", "DockerImage", "abc", referencePolicy={"type": "Other"})),
            [
                invalid(
                    "spec.tags[tag].referencePolicy.type",
                    "Other",
                    'valid values are "Source", "Local"',
                )
            ],
        ),
        id="is-reference-policy-must-be-valid",
    ),
    # validation_test.go TestValidateImageStream "ImageStreamTags can't be scheduled"
    pytest.param(
        Refused(
            "imagestreams",
            stream(
                "foo",
                spec_tag("tag", "DockerImage", "abc", importPolicy={"scheduled": True}),
                spec_tag(
                    "other", "ImageStreamTag", "other:latest", importPolicy={"scheduled": True}
                ),
            ),
            [
                (
                    "FieldValueInvalid",
                    "spec.tags[other].importPolicy.scheduled",
                    "Invalid value: true: only tags pointing to Docker repositories may be "
                    "scheduled for background import",
                )
            ],
        ),
        id="is-image-stream-tags-cannot-be-scheduled",
    ),
    # validation_test.go TestValidateImageStream "image IDs can't be scheduled"
    pytest.param(
        Refused(
            "imagestreams",
            stream(
                "foo",
                spec_tag("badid", "DockerImage", "abc@badid", importPolicy={"scheduled": True}),
            ),
            [invalid("spec.tags[badid].from.name", "abc@badid", "invalid reference format")],
        ),
        id="is-image-ids-cannot-be-scheduled",
    ),
    # validation_test.go TestValidateImageStream "ImageStreamImages can't be scheduled"
    pytest.param(
        Refused(
            "imagestreams",
            stream(
                "foo",
                spec_tag(
                    "otherimage",
                    "ImageStreamImage",
                    "other@latest",
                    importPolicy={"scheduled": True},
                ),
            ),
            [
                (
                    "FieldValueInvalid",
                    "spec.tags[otherimage].importPolicy.scheduled",
                    "Invalid value: true: only tags pointing to Docker repositories may be "
                    "scheduled for background import",
                )
            ],
        ),
        id="is-image-stream-images-cannot-be-scheduled",
    ),
    # validation_test.go TestValidateImageStream "max name and namespace length exceeded"
    pytest.param(
        Refused(
            "imagestreams",
            stream(NAME_192),
            [
                invalid(
                    "metadata.name",
                    NAME_192,
                    "'namespace/name' cannot be longer than 255 characters",
                )
            ],
            namespace=NAMESPACE_63,
        ),
        id="is-max-name-and-namespace-length-exceeded",
    ),
    # validation_test.go TestValidateImageStream "invalid importMode"
    pytest.param(
        Refused(
            "imagestreams",
            stream(
                "foo", spec_tag("tag", "DockerImage", "abc", importPolicy={"importMode": "Invalid"})
            ),
            [invalid("spec.tags[tag].importPolicy.importMode", "Invalid", IMPORT_MODE_MESSAGE)],
        ),
        id="is-invalid-import-mode",
    ),
    # apimachinery ValidateObjectMetaAccessor with ValidateImageStreamName on the prefix
    pytest.param(
        Refused(
            "imagestreams",
            stream(None, generateName="foo-"),
            [invalid("metadata.generateName", "foo-", f'must match "{NAME_PATTERN}"')],
        ),
        id="is-generate-name-prefix",
    ),
    # --- ImageStreamTag: TestValidateISTUpdate, ValidateImageStreamTag --------------------
    # validation_test.go TestValidateISTUpdate "tagToNameRequired"
    pytest.param(
        Refused(
            "imagestreamtags",
            istag("foo:bar", "DockerImage", ""),
            [required("tag.from.name")],
        ),
        id="istag-tag-to-name-required",
    ),
    # validation_test.go TestValidateISTUpdate "tagToKindRequired"
    pytest.param(
        Refused(
            "imagestreamtags",
            istag("foo:bar", "", "foo/bar:biz"),
            [
                required(
                    "tag.from.kind",
                    "valid values are 'DockerImage', 'ImageStreamImage', 'ImageStreamTag'",
                )
            ],
        ),
        id="istag-tag-to-kind-required",
    ),
    # validation_test.go TestValidateISTUpdate "mismatchedAnnotations" (ValidateImageStreamTag,
    # which a create runs too)
    pytest.param(
        Refused(
            "imagestreamtags",
            {
                **istag("foo:bar", "DockerImage", "some/other:system", annotations={"one": "two"}),
                "tag": {
                    "from": {"kind": "DockerImage", "name": "some/other:system"},
                    "annotations": {"one": "three"},
                },
            },
            [
                (
                    "FieldValueInvalid",
                    "tag.annotations",
                    'Invalid value: "<map>": tag annotations must not be provided or must be '
                    "equal to the object meta annotations",
                )
            ],
        ),
        id="istag-mismatched-annotations",
    ),
    # validation.go ValidateImageStreamTag: ValidateObjectMeta with ValidatePathSegmentName
    pytest.param(
        Refused(
            "imagestreamtags",
            istag("foo/x:bar", "DockerImage", "abc"),
            [invalid("metadata.name", "foo/x:bar", "may not contain '/'")],
        ),
        id="istag-name-is-a-path-segment",
    ),
    # apimachinery ValidateObjectMetaAccessor: neither name nor generateName
    pytest.param(
        Refused(
            "imagestreamtags",
            istag(None, "DockerImage", "abc"),
            [required("metadata.name", "name or generateName is required")],
        ),
        id="istag-missing-name",
    ),
    # ours: imagestreamtag/rest.go makes no name from generateName (a 500 upstream)
    pytest.param(
        Refused(
            "imagestreamtags",
            istag(None, "DockerImage", "abc", generateName="foo:"),
            [
                required(
                    "metadata.name",
                    "name is required: ImageStreamTags do not support generateName",
                )
            ],
        ),
        id="istag-generate-name-only",
    ),
    # ValidateImageStreamTagReference -> ValidateImportPolicy, at the tag's paths
    pytest.param(
        Refused(
            "imagestreamtags",
            {
                **istag("foo:bar", "DockerImage", "abc"),
                "tag": {
                    "from": {"kind": "DockerImage", "name": "abc"},
                    "importPolicy": {"importMode": "Invalid"},
                },
            },
            [invalid("tag.importPolicy.importMode", "Invalid", IMPORT_MODE_MESSAGE)],
        ),
        id="istag-invalid-import-mode",
    ),
]


ACCEPTED = [
    pytest.param(Accepted("imagestreams", stream("g"), namespace="f"), id="is-shortest-name"),
    # validation_test.go TestValidateImageStream "all possible characters used"
    pytest.param(
        Accepted(
            "imagestreams",
            stream("abcdefghijklmnopqrstuvwxyz-1234567890.dot_underscore-dash"),
            namespace="abcdefghijklmnopqrstuvwxyz-1234567890",
        ),
        id="is-all-possible-characters-used",
    ),
    # validation_test.go TestValidateImageStream "max name and namespace length met"
    pytest.param(
        Accepted("imagestreams", stream(NAME_191), namespace=NAMESPACE_63),
        id="is-max-name-and-namespace-length-met",
    ),
    # validation_test.go TestValidateImageStream "valid importMode"
    pytest.param(
        Accepted(
            "imagestreams",
            stream(
                "foo",
                spec_tag(
                    "tag", "DockerImage", PUSHED, importPolicy={"importMode": "PreserveOriginal"}
                ),
            ),
        ),
        id="is-valid-import-mode",
    ),
    # validation_test.go TestValidateImageStreamImport "valid scheduled dockerimage sha/digest
    # ref" (its spec tags): ValidateImageStreamTagReference does not refuse scheduling by digest
    pytest.param(
        Accepted(
            "imagestreams",
            stream(
                "foo", spec_tag("tag", "DockerImage", BY_DIGEST, importPolicy={"scheduled": True})
            ),
        ),
        id="is-valid-scheduled-digest",
    ),
    # registry/generic/registry/store.go create: a name made from generateName
    # (names.SimpleNameGenerator: five characters after it)
    pytest.param(Accepted("imagestreams", stream(None, generateName="foo")), id="is-generate-name"),
    # names.SimpleNameGenerator: a generateName longer than 58 characters is cut to 58
    pytest.param(
        Accepted("imagestreams", stream(None, generateName="g" * 60)), id="is-generate-name-cut"
    ),
    # ValidateImageStreamTagReference does not refuse scheduling by digest
    pytest.param(
        Accepted(
            "imagestreamtags",
            {
                **istag("foo:bar", "DockerImage", BY_DIGEST),
                "tag": {
                    "from": {"kind": "DockerImage", "name": BY_DIGEST},
                    "importPolicy": {"scheduled": True},
                },
            },
        ),
        id="istag-valid-scheduled-digest",
    ),
]


@pytest.mark.parametrize("case", REFUSED)
def test_writes_openshift_refuses_are_refused_with_its_causes(api: Api, case: Refused) -> None:
    send_refused(api, case)


@pytest.mark.parametrize("case", ACCEPTED)
def test_writes_openshift_accepts_are_accepted(
    api: Api, anon_registry: Registry, push_image: Any, case: Accepted
) -> None:
    send_accepted(api, anon_registry, push_image, case)
