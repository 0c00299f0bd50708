"""Calls the real API handler in-process, on AWS services from moto.

The handler is loaded from ``functions/api/app.py`` the way Lambda loads it
(by file, ``Handler: app.lambda_handler``, its folder the code root); events
come from ``events/``; settings come from the environment the caller (a test,
the benchmark) sets, through ``bootstrap``.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from devserver.server import load_module
from imagestreams import bootstrap
from testkit.events import load_event, with_body, with_namespace

ROOT = Path(__file__).resolve().parents[1]


def load_function(name: str) -> ModuleType:
    """Load ``functions/<name>/app.py`` as a fresh module, its folder the code root."""
    code_dir = ROOT / "functions" / name
    return load_module(code_dir / "app.py", code_dir, f"function_{name}_{uuid.uuid4().hex}")


class FakeContext:
    """The parts of a Lambda context the handlers read."""

    def __init__(self, remaining_ms: int = 29_000) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "ApiFunction"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ApiFunction"
        self.log_group_name = "/aws/lambda/ApiFunction"
        self.log_stream_name = "local"
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


@dataclass
class Reply:
    """An answer of the api function: ``body`` is its JSON (``{}`` for anything else).

    ``content`` is the body as a client receives it: base64 and gzip undone.
    """

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    request_id: str
    raw: dict[str, Any]
    content: bytes = b""


class Api:
    """The api function behind a minimal API Gateway."""

    def __init__(self, secret_prefix: str = "imagestreams", *, reset: bool = True) -> None:
        # A reset stands for a new Lambda process: nothing built in memory survives.
        if reset:
            bootstrap.reset()
        self.module = load_function("api")
        self.secret_prefix = secret_prefix

    def invoke(
        self, event: dict[str, Any], remaining_ms: int = 29_000, grant: str | None = "path"
    ) -> Reply:
        """Invoke the handler as API Gateway would after the token authorizer.

        ``grant`` is the namespaces the caller's token grants: by default the
        namespace the event addresses; None sends no authorizer context.
        """
        event = copy.deepcopy(event)
        context_of_request = event.setdefault("requestContext", {})
        if grant is None:
            context_of_request.pop("authorizer", None)
        else:
            namespace = (event.get("pathParameters") or {}).get("namespace", "")
            namespaces = namespace if grant == "path" else grant
            context_of_request["authorizer"] = {
                "principalId": "tester",
                "subject": "tester",
                "namespaces": namespaces,
            }
        context = FakeContext(remaining_ms)
        response = self.module.lambda_handler(event, context)
        headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        raw = response.get("body") or ""
        if response.get("isBase64Encoded"):
            raw = base64.b64decode(raw)
            if headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
        content = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        # A watch answers several JSON documents, one a line: read those from ``raw``.
        watch = b"\n" in content.strip()
        is_json = "json" in headers.get("Content-Type", "application/json")
        body = json.loads(content) if content and is_json and not watch else {}
        return Reply(
            response["statusCode"], body, headers, context.aws_request_id, response, content
        )

    def post_import(
        self,
        namespace: str,
        body: Any,
        *,
        raw: str | None = None,
        base64_body: bool = False,
        remaining_ms: int = 29_000,
        grant: str | None = "path",
    ) -> Reply:
        """POST ``body`` (or the ``raw`` text) to the namespace's imagestreamimports."""
        event = with_namespace(load_event("api-import-single.json"), namespace)
        if raw is None:
            event = with_body(event, body)
        else:
            event.update(body=raw, isBase64Encoded=base64_body)
        return self.invoke(event, remaining_ms=remaining_ms, grant=grant)

    def put_pull_secret(self, namespace: str, auths: dict[str, tuple[str, str]]) -> None:
        """Store a ``.dockerconfigjson`` pull secret for ``namespace``."""
        config = {
            "auths": {
                host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
                for host, (user, password) in auths.items()
            }
        }
        client = boto3.client("secretsmanager")
        name = f"{self.secret_prefix}/{namespace}/pull-secret"
        try:
            client.create_secret(Name=name, SecretString=json.dumps(config))
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=name, SecretString=json.dumps(config))
        bootstrap.reset()


def import_body(
    *images: dict[str, Any], name: str = "app", annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """An ImageStreamImport dry run for ``images`` (``spec.images`` entries)."""
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "kind": "ImageStreamImport",
        "apiVersion": "image.openshift.io/v1",
        "metadata": metadata,
        "spec": {"import": False, "images": list(images)},
    }


def image_spec(name: str, **fields: Any) -> dict[str, Any]:
    """One ``spec.images`` entry importing ``name``."""
    return {"from": {"kind": "DockerImage", "name": name}, **fields}
