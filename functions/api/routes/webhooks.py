"""Registry webhook routes: push notifications that re-import the tags tracking them.

Authenticated by the shared webhook secret, not by the token authorizer;
reading the notification is ``imagestreams.api.webhooks``' job, choosing
the tags to re-import ``imagestreams.reimports``'.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from imagestreams import bootstrap, reimports
from imagestreams.api import responses, webhooks

router = APIGatewayRouter()  # type: ignore[no-untyped-call]


@router.post("/webhooks/distribution")
def distribution_webhook() -> Response[str]:
    """A registry's push notifications: re-import exactly the stream tags that track them."""
    webhooks.authenticate(
        router.current_event.headers.get("Authorization"),
        bootstrap.container().webhook_secret().get(),
    )
    pushes = reimports.distribution_pushes(webhooks.envelope(router.current_event.decoded_body))
    queued = bootstrap.container().queue_reimports().on_pushes(pushes, "distribution-push")
    return responses.accepted(f"{queued} stream tags queued for re-import")
