"""EventBridge entry point: the re-import schedule and ECR push events.

Thin by design: a scheduled invocation queues re-imports of every tag whose
``importPolicy.scheduled`` is true; an "ECR Image Action" event queues
re-imports of exactly the tags that track the pushed image. The worker
function does the imports, from the same queue as large repository imports.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from imagestreams import bootstrap, reimports
from imagestreams.observability import logger, metrics, tracer


@bootstrap.settled
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Queue the re-imports an event calls for; answers how many were queued."""
    service = bootstrap.container().queue_reimports()
    if event.get("source") == "aws.ecr":
        return {"queued": service.on_pushes(reimports.ecr_pushes(event), "ecr-push")}
    return {"queued": service.run_schedule()}
