"""The machinery of the conformance tables: builders of requests, and what a row asserts.

A row of ``tests/integration/test_conformance_*validation.py`` is a
:class:`Refused` (a create the API server answers with a 422: its causes,
in order) or an :class:`Accepted` (a create it makes, its images imported);
``send_refused`` and ``send_accepted`` send one through the real api
handler and assert what OpenShift answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from testkit.api import Api
from testkit.registry import Registry
from tests.integration.test_stream_tags import request

NAME_PATTERN = "[a-z0-9]+(?:[._-][a-z0-9]+)*"
NAMESPACE_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
IMPORT_MODE_MESSAGE = "invalid import mode, valid modes are '', 'Legacy', 'PreserveOriginal'"
NAMESPACE_63 = "a" * 63
NAME_191 = "b" * 191
NAME_192 = "x" + NAME_191
KINDS = {
    "imagestreamimports": "ImageStreamImport",
    "imagestreams": "ImageStream",
    "imagestreamtags": "ImageStreamTag",
}


def isi(name: str | None = "foo", images: list[Any] | None = None, **spec: Any) -> dict[str, Any]:
    """An ImageStreamImport; without images or repository, upstream's ``validSpec``."""
    if images is None and "repository" not in spec:
        spec["repository"] = {"from": {"kind": "DockerImage", "name": "redis"}}
    metadata = spec.pop("metadata", {} if name is None else {"name": name})
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": metadata,
        "spec": {
            "import": spec.pop("import_", False),
            **({"images": images} if images else {}),
            **spec,
        },
    }


def image(name: str, kind: str = "DockerImage", **extra: Any) -> dict[str, Any]:
    return {"from": {"kind": kind, "name": name}, **extra}


def stream(name: str | None = "foo", *tags: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "kind": "ImageStream",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {**({"name": name} if name is not None else {}), **metadata},
        "spec": {"tags": list(tags)},
    }


def spec_tag(name: str, kind: str, source: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "from": {"kind": kind, "name": source}, **extra}


def istag(name: str | None, kind: str, source: str, **metadata: Any) -> dict[str, Any]:
    return {
        "kind": "ImageStreamTag",
        "apiVersion": "image.openshift.io/v1",
        "metadata": {**({"name": name} if name is not None else {}), **metadata},
        "tag": {"from": {"kind": kind, "name": source}},
    }


def invalid(path: str, value: str, detail: str) -> tuple[str, str, str]:
    return ("FieldValueInvalid", path, f'Invalid value: "{value}": {detail}')


def required(path: str, detail: str = "") -> tuple[str, str, str]:
    return ("FieldValueRequired", path, f"Required value: {detail}" if detail else "Required value")


@dataclass(frozen=True)
class Refused:
    """A create the API server refuses: the resource, the body, what the 422 must say."""

    resource: str
    body: dict[str, Any]
    causes: list[tuple[str, str, str]]
    namespace: str = "foo"

    @property
    def kind(self) -> str:
        return KINDS[self.resource]


def send_refused(api: Api, case: Refused) -> None:
    """Create ``case.body``: the answer must be the API server's 422, in its order and words."""
    reply = request(api, case.resource, method="POST", body=case.body, namespace=case.namespace)

    assert reply.status == 422, reply.body
    name = case.body["metadata"].get("name", "")
    base = case.body["metadata"].get("generateName") if case.kind == "ImageStream" else None
    if base:
        # The generic registry names a stream before it validates it (names.SimpleNameGenerator).
        name = reply.body["details"]["name"]
        assert name.startswith(base)
        assert len(name) == len(base) + 5
    listed = [f"{path}: {message}" for _, path, message in case.causes]
    summary = listed[0] if len(listed) == 1 else "[" + ", ".join(listed) + "]"
    assert reply.body["reason"] == "Invalid"
    assert reply.body["message"] == f'{case.kind}.image.openshift.io "{name}" is invalid: {summary}'
    details = reply.body["details"]
    assert (details.get("name", ""), details["group"], details["kind"]) == (
        name,
        "image.openshift.io",
        case.kind,
    )
    assert [(c["reason"], c["field"], c["message"]) for c in details["causes"]] == case.causes


PUSHED = "<pushed>"
BY_DIGEST = "<pushed-by-digest>"


@dataclass(frozen=True)
class Accepted:
    """A create the API server accepts; ``<pushed>`` in the body is a pushed image."""

    resource: str
    body: dict[str, Any]
    namespace: str = "foo"


def send_accepted(api: Api, registry: Registry, push_image: Any, case: Accepted) -> None:
    """Create ``case.body`` (``<pushed>`` a pushed image): it is created, its images imported."""
    text = json.dumps(case.body)
    pushed = None
    if PUSHED in text or BY_DIGEST in text:
        pushed = push_image(registry, via="api")
        text = text.replace(BY_DIGEST, pushed.by_digest).replace(PUSHED, pushed.pull_spec)
    body = json.loads(text)

    reply = request(api, case.resource, method="POST", body=body, namespace=case.namespace)

    # Created under its name, or one made from generateName as the generic registry makes it
    assert reply.status == 201, reply.body
    name = reply.body["metadata"]["name"]
    if "generateName" in body["metadata"]:
        base = body["metadata"]["generateName"][:58]
        assert name.startswith(base)
        assert len(name) == len(base) + 5
        assert set(name[len(base) :]) <= set("bcdfghjklmnpqrstvwxz2456789")
    else:
        assert name == body["metadata"]["name"]
    # and every image it names imported
    if case.resource == "imagestreamimports":
        assert [s["status"]["status"] for s in reply.body["status"]["images"]] == ["Success"]
    elif case.resource == "imagestreamtags":
        assert pushed is not None
        assert reply.body["image"]["metadata"]["name"] == pushed.digest
    else:
        imported = {t["tag"] for t in reply.body["status"].get("tags", []) if t.get("items")}
        assert imported == {t["name"] for t in body["spec"]["tags"]}
