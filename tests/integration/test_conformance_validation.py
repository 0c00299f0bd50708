"""OpenShift's validation of ImageStreamImports, case by case.

Each row mirrors one case of openshift-apiserver's
``pkg/image/apis/image/validation/validation_test.go`` (or the function of
``validation.go``, apimachinery or library-go it rests on, named in the
row's comment) and is sent through the real api handler: the 422 ``Status``
must carry upstream's reasons, field paths and messages, in upstream's
order (``tests/support/conformance.py`` sends a row and checks it). Rows
marked "ours" are the differences the README lists. Requests that are
accepted import a pushed image from a real registry. ImageStream and
ImageStreamTag rows are ``test_conformance_stream_validation``'s.
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
    image,
    invalid,
    isi,
    required,
    send_accepted,
    send_refused,
)

REFUSED = [
    # --- ImageStreamImport: TestValidateImageStreamImport -------------------------------
    # validation_test.go TestValidateImageStreamImport "missing name" (apimachinery
    # ValidateObjectMetaAccessor)
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(None),
            [required("metadata.name", "name or generateName is required")],
        ),
        id="isi-missing-name",
    ),
    # validation_test.go TestValidateImageStreamImport "no slash in Name"
    # (path.IsValidPathSegmentName)
    pytest.param(
        Refused(
            "imagestreamimports",
            isi("foo/bar"),
            [invalid("metadata.name", "foo/bar", "may not contain '/'")],
        ),
        id="isi-no-slash-in-name",
    ),
    # validation_test.go TestValidateImageStreamImport "no percent in Name"
    pytest.param(
        Refused(
            "imagestreamimports",
            isi("foo%%bar"),
            [invalid("metadata.name", "foo%%bar", "may not contain '%'")],
        ),
        id="isi-no-percent-in-name",
    ),
    # validation_test.go TestValidateImageStreamImport "other invalid name"
    # (ValidateImageStreamName)
    pytest.param(
        Refused(
            "imagestreamimports",
            isi("foo bar"),
            [invalid("metadata.name", "foo bar", f'must match "{NAME_PATTERN}"')],
        ),
        id="isi-other-invalid-name",
    ),
    # validation_test.go TestValidateImageStreamImport "invalid namespace" (ValidateNamespaceName)
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(),
            [invalid("metadata.namespace", "!$", NAMESPACE_MESSAGE)],
            namespace="!$",
        ),
        id="isi-invalid-namespace",
    ),
    # validation_test.go TestValidateImageStreamImport "invalid dockerImageRepository"
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(repository={"from": {"kind": "DockerImage", "name": "a-|///bbb"}}),
            [invalid("spec.repository.from.name", "a-|///bbb", "invalid reference format")],
        ),
        id="isi-invalid-repository",
    ),
    # validation_test.go TestValidateImageStreamImport "invalid dockerImageRepository with tag"
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(repository={"from": {"kind": "DockerImage", "name": "a/b:tag"}}),
            [
                invalid(
                    "spec.repository.from.name",
                    "a/b:tag",
                    "you must specify an image repository, not a tag or ID",
                )
            ],
        ),
        id="isi-repository-with-tag",
    ),
    # validation_test.go TestValidateImageStreamImport "invalid dockerImageRepository with ID"
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(repository={"from": {"kind": "DockerImage", "name": "a/b@sha256:something"}}),
            [
                invalid(
                    "spec.repository.from.name", "a/b@sha256:something", "invalid reference format"
                )
            ],
        ),
        id="isi-repository-with-id",
    ),
    # validation.go ValidateImageStreamImport: an empty repository name is Required, with detail
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(repository={"from": {"kind": "DockerImage", "name": ""}}),
            [required("spec.repository.from.name", "container image references require a name")],
        ),
        id="isi-repository-without-name",
    ),
    # validation_test.go TestValidateImageStreamImport "only DockerImage tags can be scheduled"
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(
                images=[
                    image("abc", importPolicy={"scheduled": True}),
                    image("abc@badid", importPolicy={"scheduled": True}),
                    image("other:latest", "ImageStreamTag", importPolicy={"scheduled": True}),
                    image("other@latest", "ImageStreamImage", importPolicy={"scheduled": True}),
                ]
            ),
            [
                invalid("spec.images[1].from.name", "abc@badid", "invalid reference format"),
                invalid(
                    "spec.images[2].from.kind", "ImageStreamTag", "only DockerImage is supported"
                ),
                invalid(
                    "spec.images[3].from.kind", "ImageStreamImage", "only DockerImage is supported"
                ),
            ],
        ),
        id="isi-only-docker-images-can-be-scheduled",
    ),
    # validation_test.go TestValidateImageStreamImport "invalid image importMode"
    # (ValidateImportPolicy)
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(images=[image("abc", importPolicy={"importMode": "Invalid"})]),
            [invalid("spec.images[0].importPolicy.importMode", "Invalid", IMPORT_MODE_MESSAGE)],
        ),
        id="isi-invalid-image-import-mode",
    ),
    # validation_test.go TestValidateImageStreamImport "invalid repository importMode"
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(
                repository={
                    "from": {"kind": "DockerImage", "name": "abc"},
                    "importPolicy": {"importMode": "Invalid"},
                }
            ),
            [invalid("spec.repository.importPolicy.importMode", "Invalid", IMPORT_MODE_MESSAGE)],
        ),
        id="isi-invalid-repository-import-mode",
    ),
    # validation.go ValidateImageStreamImport: the spec's errors come before ValidateObjectMeta's
    pytest.param(
        Refused(
            "imagestreamimports",
            isi("foo bar", images=[image("abc", importPolicy={"importMode": "Invalid"})]),
            [
                invalid("spec.images[0].importPolicy.importMode", "Invalid", IMPORT_MODE_MESSAGE),
                invalid("metadata.name", "foo bar", f'must match "{NAME_PATTERN}"'),
            ],
        ),
        id="isi-spec-before-metadata",
    ),
    # library-go digest.Validate (ErrDigestInvalidLength): 34 hex digits for sha256
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(images=[image("abc@sha256:" + "f" * 34)]),
            [
                invalid(
                    "spec.images[0].from.name",
                    "abc@sha256:" + "f" * 34,
                    "invalid checksum digest length",
                )
            ],
        ),
        id="isi-digest-length",
    ),
    # library-go reference DigestRegexp wants 32 hex digits or more: shorter is no reference
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(images=[image("abc@sha256:abc")]),
            [invalid("spec.images[0].from.name", "abc@sha256:abc", "invalid reference format")],
        ),
        id="isi-digest-too-short",
    ),
    # library-go digest.Validate (ErrDigestUnsupported)
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(images=[image("abc@md5:" + "f" * 32)]),
            [
                invalid(
                    "spec.images[0].from.name",
                    "abc@md5:" + "f" * 32,
                    "unsupported digest algorithm",
                )
            ],
        ),
        id="isi-digest-unsupported",
    ),
    # apimachinery ValidateObjectMetaAccessor: a generateName is checked as a prefix by
    # ValidateImageStreamName, whose pattern a trailing "-" fails
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(metadata={"name": "foo", "generateName": "foo-"}),
            [invalid("metadata.generateName", "foo-", f'must match "{NAME_PATTERN}"')],
        ),
        id="isi-generate-name-prefix",
    ),
    # ours: imagestreamimport/rest.go makes no name from generateName (BeforeCreate's 500
    # "metadata.name was not generated"); here a 422 that says so
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(metadata={"generateName": "foo"}),
            [
                required(
                    "metadata.name",
                    "name is required: ImageStreamImports do not support generateName",
                )
            ],
        ),
        id="isi-generate-name-only",
    ),
    # ours: VT TestValidateImageStream "max name and namespace length exceeded", for the
    # stream an import names (upstream refuses it when import: true makes the stream)
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(NAME_192),
            [
                invalid(
                    "metadata.name",
                    NAME_192,
                    "'namespace/name' cannot be longer than 255 characters",
                )
            ],
            namespace=NAMESPACE_63,
        ),
        id="isi-max-name-and-namespace-length-exceeded",
    ),
    # ours: an import that writes gives its reference policy to a spec tag; upstream fails
    # the stream's update on it after the import (ValidateImageStreamTagReference)
    pytest.param(
        Refused(
            "imagestreamimports",
            isi(images=[image("abc", referencePolicy={"type": "Other"})], import_=True),
            [
                invalid(
                    "spec.images[0].referencePolicy.type",
                    "Other",
                    'valid values are "Source", "Local"',
                )
            ],
        ),
        id="isi-import-with-unknown-reference-policy",
    ),
]


ACCEPTED = [
    # validation_test.go TestValidateImageStreamImport "valid scheduled dockerimage sha/digest ref":
    # validation.go ValidateImageStreamImport does not look at importPolicy.scheduled
    pytest.param(
        Accepted(
            "imagestreamimports", isi(images=[image(BY_DIGEST, importPolicy={"scheduled": True})])
        ),
        id="isi-valid-scheduled-digest",
    ),
    # validation.go ValidateImageStreamImport does not look at referencePolicy
    pytest.param(
        Accepted(
            "imagestreamimports", isi(images=[image(PUSHED, referencePolicy={"type": "Other"})])
        ),
        id="isi-reference-policy-not-checked",
    ),
    # validation_test.go TestValidateImageStreamImport "shortest name components"
    pytest.param(
        Accepted("imagestreamimports", isi("g", images=[image(PUSHED)]), namespace="f"),
        id="isi-shortest-name-components",
    ),
    # validation_test.go TestValidateImageStreamImport "all possible characters used"
    pytest.param(
        Accepted(
            "imagestreamimports",
            isi(
                "abcdefghijklmnopqrstuvwxyz-1234567890.dot_underscore-dash", images=[image(PUSHED)]
            ),
            namespace="abcdefghijklmnopqrstuvwxyz-1234567890",
        ),
        id="isi-all-possible-characters-used",
    ),
    # validation_test.go TestValidateImageStreamImport "max name and namespace length met"
    pytest.param(
        Accepted(
            "imagestreamimports", isi(NAME_191, images=[image(PUSHED)]), namespace=NAMESPACE_63
        ),
        id="isi-max-name-and-namespace-length-met",
    ),
    # validation_test.go TestValidateImageStream "shortest name components"
]


@pytest.mark.parametrize("case", REFUSED)
def test_imports_openshift_refuses_are_refused_with_its_causes(api: Api, case: Refused) -> None:
    send_refused(api, case)


@pytest.mark.parametrize("case", ACCEPTED)
def test_imports_openshift_accepts_are_accepted(
    api: Api, anon_registry: Registry, push_image: Any, case: Accepted
) -> None:
    send_accepted(api, anon_registry, push_image, case)
