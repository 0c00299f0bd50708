"""Measure: the size of a whole repository's answer, with realistic images, against Lambda's limit.

A synchronously invoked function returns at most 6 MB (its response's JSON:
the proxy response, with a gzip'd body in base64); an ImageStreamImport of
a repository answers every tag's image, its layers, labels and environment.
This module owns the repository of realistic images (:data:`LAYERS` shared
layers each; :data:`LABELS` labels and :data:`ENVIRONMENT` variables, as
base images of the Red Hat and OCI conventions carry) pushed beside the
benchmark's small one, and its measure: a cold import with default settings
from a client that accepts gzip, then the completed import read back, gzip'd
and not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.fixtures import Repository, aws_stack, log
from bench.imports import gzip_size, import_repository, read_import
from imagestreams.api.responses import FUNCTION_RESPONSE_LIMIT
from testkit.images import push_many_tags, random_layer
from testkit.registry import Registry

REPOSITORY = "bench/realistic"
STREAM = "realistic"
LAYERS = 12
LABELS = 36
ENVIRONMENT = 24


def realistic_labels(count: int = LABELS) -> dict[str, str]:
    """Labels as a vendor's base image has them (the tag's own is added per tag)."""
    known = {
        "org.opencontainers.image.title": "example-application-server",
        "org.opencontainers.image.description": (
            "An application server image with a JVM, a Python runtime and the usual tools"
        ),
        "org.opencontainers.image.vendor": "Example Software Foundation",
        "org.opencontainers.image.licenses": "Apache-2.0 AND MIT AND BSD-3-Clause",
        "org.opencontainers.image.source": "https://git.example.com/platform/app-server-images",
        "org.opencontainers.image.url": "https://images.example.com/platform/app-server",
        "org.opencontainers.image.documentation": "https://docs.example.com/app-server/images",
        "org.opencontainers.image.revision": "9f2c4e1b7a3d5f60812c9e4b3a7d1f0e2c5b8a9d",
        "org.opencontainers.image.base.name": "registry.example.com/ubi9/ubi-minimal:9.4-1227",
        "io.k8s.display-name": "Example Application Server 4.2",
        "io.k8s.description": (
            "The application server runtime, with health probes on 8080 and metrics on 9090"
        ),
        "io.openshift.tags": "builder,java,python,app-server,runtime",
        "io.openshift.expose-services": "8080:http,8443:https,9090:metrics",
        "io.openshift.min-memory": "512Mi",
        "io.openshift.min-cpu": "500m",
        "com.redhat.component": "app-server-container",
        "com.redhat.license_terms": "https://www.example.com/licenses/eula",
        "name": "platform/app-server",
        "summary": "Example Application Server runtime image",
        "vendor": "Example Software Foundation",
        "maintainer": "Platform Images Team <platform-images@example.com>",
        "architecture": "x86_64",
        "vcs-type": "git",
        "vcs-ref": "9f2c4e1b7a3d5f60812c9e4b3a7d1f0e2c5b8a9d",
        "build-date": "2024-05-14T09:21:37",
        "distribution-scope": "public",
        "url": "https://images.example.com/platform/app-server/4.2",
        "io.buildah.version": "1.33.7",
    }
    labels = dict(list(known.items())[:count])
    for index in range(len(labels), count):
        labels[f"com.example.build.step-{index:02d}"] = f"stage-{index:02d}: sha256-verified"
    return labels


def realistic_environment(count: int = ENVIRONMENT) -> list[str]:
    """Environment variables as a runtime image sets them."""
    known = [
        "PATH=/opt/app-root/bin:/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
        "HOME=/opt/app-root/src",
        "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8",
        "JAVA_HOME=/usr/lib/jvm/java-21-openjdk",
        "JAVA_VERSION=21.0.3+9",
        "JAVA_OPTS_APPEND=-XX:+ExitOnOutOfMemoryError -XX:MaxRAMPercentage=80.0",
        "PYTHON_VERSION=3.11.9",
        "PYTHONUNBUFFERED=1",
        "PIP_NO_CACHE_DIR=off",
        "APP_ROOT=/opt/app-root",
        "APP_PORT=8080",
        "APP_METRICS_PORT=9090",
        "SUMMARY=Example Application Server runtime image",
        "DESCRIPTION=The application server runtime, with health probes and metrics",
        "container=oci",
        "TZ=UTC",
        "SSL_CERT_DIR=/etc/pki/tls/certs",
    ]
    variables = known[:count]
    for index in range(len(variables), count):
        variables.append(f"APP_FEATURE_{index:02d}=enabled")
    return variables


@dataclass
class AnswerSize:
    """The whole repository's answer, as a client gets it."""

    tags: int
    layers: int
    labels: int
    environment: int
    limit_bytes: int
    post_status: int
    post_tags: int  # images the POST answered (all of them unless it was a 202)
    post_bytes: int
    post_gzip_bytes: int
    post_response_bytes: int
    read_bytes: int  # the completed import read back (GET), gzip'd
    read_gzip_bytes: int
    read_response_bytes: int
    plain_status: int  # the same GET from a client that does not accept gzip
    plain_response_bytes: int

    @property
    def full_answer(self) -> tuple[str, int, int, int]:
        """(which, raw, gzip, function response) bytes of an answer naming every tag."""
        if self.post_status == 201 and self.post_tags == self.tags:
            return ("POST answer", self.post_bytes, self.post_gzip_bytes, self.post_response_bytes)
        return (
            "import read back",
            self.read_bytes,
            self.read_gzip_bytes,
            self.read_response_bytes,
        )


def push_realistic(registry: Registry, tags: int) -> Repository:
    """``tags`` realistic single-platform images sharing :data:`LAYERS` layers."""
    layers = [random_layer(files=4, file_size=2048) for _ in range(LAYERS)]
    pushed = push_many_tags(
        registry,
        REPOSITORY,
        tags,
        unique="config",
        shared_layers=layers,
        workers=8,
        labels=realistic_labels(),
        env=realistic_environment(),
    )
    repository = Repository(registry.host, REPOSITORY, [p.tag for p in pushed])
    repository.groups.update({push.tag: "single" for push in pushed})
    return repository


def measure_answer_size(registry: Registry, tags: int) -> AnswerSize:
    """Push the realistic repository, import it cold (gzip accepted), read it back both ways."""
    log(f"answer size: pushing {tags} realistic tags ({LAYERS} layers, {LABELS} labels)")
    repository = push_realistic(registry, tags)
    log("answer size: cold import of the realistic repository")
    with aws_stack() as stack:
        run = import_repository(stack, repository, stream=STREAM, gzip=True)
        read = read_import(stack, STREAM, gzip=True)
        plain = read_import(stack, STREAM)
    answered = len(((read.body.get("status") or {}).get("repository") or {}).get("images") or [])
    if read.status != 200 or answered != tags:
        raise RuntimeError(f"the import read back answered {read.status} with {answered} images")
    return AnswerSize(
        tags=tags,
        layers=LAYERS,
        labels=LABELS + 1,
        environment=ENVIRONMENT,
        limit_bytes=FUNCTION_RESPONSE_LIMIT,
        post_status=run.status,
        post_tags=run.inline_tags,
        post_bytes=run.answer_bytes,
        post_gzip_bytes=run.answer_gzip_bytes,
        post_response_bytes=run.response_bytes,
        read_bytes=len(read.content),
        read_gzip_bytes=gzip_size(read),
        read_response_bytes=len_json(read.raw),
        plain_status=plain.status,
        plain_response_bytes=len_json(plain.raw),
    )


def len_json(document: object) -> int:
    """Bytes of ``document`` as JSON: what Lambda counts of a function's response."""
    return len(json.dumps(document))
