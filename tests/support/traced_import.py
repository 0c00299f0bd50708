"""One traced import in a process of its own: ``python -m tests.support.traced_import REF...``.

Tracing changes process-wide state (the X-Ray recorder, botocore patched),
so the test that checks it runs the api function here, in a fresh process,
as Lambda runs it with ``Tracing: Active``: the caller sets
``LAMBDA_TASK_ROOT``, ``POWERTOOLS_TRACE_DISABLED=false`` and a sampled
``_X_AMZN_TRACE_ID``. AWS is moto with the template's resources; the X-Ray
daemon is stood in for by an emitter that keeps what it is sent. Prints the
reply's status (``status 201``), then every entity sent (``entity {...}``), a line each;
the handler's logs and metrics are printed among them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from aws_xray_sdk.core import xray_recorder

from testkit.api import Api, image_spec, import_body
from testkit.aws import create_template_resources, fake_credentials, mocked_aws


class KeptEntities:
    """An X-Ray emitter that keeps what it is sent instead of sending it over UDP."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.sent.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str) -> None:
        return


def main(references: list[str]) -> None:
    fake_credentials(os.environ)
    emitter = KeptEntities()
    xray_recorder.configure(emitter=emitter)
    with mocked_aws():
        created = create_template_resources()
        os.environ.update(created.environment("ApiFunction"))
        # What the template sets with Tracing: Active, and loopback for the registry.
        os.environ["POWERTOOLS_TRACE_DISABLED"] = "false"
        os.environ["ALLOWED_PRIVATE_CIDRS"] = "127.0.0.1/32"
        images = [image_spec(ref, to={"name": f"t{n}"}) for n, ref in enumerate(references)]
        reply = Api().post_import("demo", import_body(*images))
    print(f"status {reply.status}")
    for entity in emitter.sent:
        print(f"entity {json.dumps(entity)}")


if __name__ == "__main__":
    main(sys.argv[1:])
