"""With tracing on, an import is one trace: the handler, each registry exchange, each store call.

The import runs in a fresh process (``tests.support.traced_import``), with
the variables Lambda and the template set when ``Tracing`` is ``Active``,
against a real registry on loopback; the X-Ray daemon is stood in for by an
emitter that keeps the subsegments the SDK sends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from testkit.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
TRACE_HEADER = f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1"


def traced_import(*references: str) -> tuple[int, list[dict[str, Any]]]:
    """The reply's status and every entity sent to X-Ray, flattened."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "imagestreams"), str(ROOT)]),
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "api"),
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_SERVICE_NAME": "imagestreams",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.traced_import", *references],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.splitlines()
    status = int(next(line.split()[1] for line in lines if line.startswith("status ")))
    entities: list[dict[str, Any]] = []

    def flatten(entity: dict[str, Any]) -> None:
        entities.append(entity)
        for child in entity.get("subsegments", []):
            flatten({"parent_id": entity["id"], "trace_id": entity.get("trace_id"), **child})

    for line in lines:
        if line.startswith("entity "):
            flatten(json.loads(line.removeprefix("entity ")))
    return status, entities


def test_an_import_is_traced_through_registry_and_store_calls(
    anon_registry: Registry, push_image: Any
) -> None:
    # Given two images on a registry on loopback
    first = push_image(anon_registry, tag="v1", via="api")
    second = push_image(anon_registry, first.repository, "v2", via="api")

    # When the api function imports both (on two import threads) with tracing on
    status, entities = traced_import(first.pull_spec, second.pull_spec)

    # Then the handler, each registry exchange and each store call is a subsegment
    assert status == 201
    names = [entity["name"] for entity in entities]
    assert "## lambda_handler" in names
    for exchange in ("ping", "manifest-get", "blob-get"):
        assert f"registry {exchange}" in names, names
    for call in ("pull-secrets.for_namespace", "image-cache.get_many", "import-records.save"):
        assert call in names, names
    # AWS SDK calls are traced too, inside the store calls that make them
    assert {"dynamodb", "secretsmanager"} <= {
        e["name"] for e in entities if e.get("namespace") == "aws"
    }
    # Each registry exchange names its registry, kind and answer
    manifests = [e for e in entities if e["name"] == "registry manifest-get"]
    assert len(manifests) == 2
    for manifest in manifests:
        assert manifest["annotations"] == {
            "registry": anon_registry.host,
            "kind": "manifest-get",
            "status": 200,
        }
    # And all of it is one trace, the import threads' exchanges under the handler
    assert {entity["trace_id"] for entity in entities} == {TRACE_ID}
    (handler,) = [e for e in entities if e["name"] == "## lambda_handler"]
    ids = {entity["id"] for entity in entities}
    for entity in entities:
        assert entity["parent_id"] in ids | {"53995c3f42cd8ad8"}, entity["name"]
    assert {manifest["parent_id"] for manifest in manifests} == {handler["id"]}
