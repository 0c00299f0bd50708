"""``python -m devserver`` end to end: a real process, real HTTP, the real handler.

The server is started as a user would start it (``PORT`` in the
environment; 0 lets it pick a free port and print the URL), asked over HTTP
with the dev token it prints, and stopped with Ctrl-C (SIGINT). Re-imports
run end to end too: the schedule fired on demand (``POST /_local/schedule``)
and a registry's push notification sent with the printed webhook secret,
each followed by the background worker importing the new image.
"""

from __future__ import annotations

import base64
import collections
import http.client
import json
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devserver.gateway import RouteTable
from devserver.template import load_template
from testkit.events import body_of, load_event, with_body, with_images, with_name
from testkit.images import repush_tag
from tests.support.devserver import (
    ROOT,
    STARTUP_TIMEOUT,
    RunningServer,
    devserver_environment,
    start_devserver,
    wait_for,
)

NAMESPACES = "/apis/image.openshift.io/v1/namespaces"
DISTRIBUTION_CONTENT_TYPE = "application/vnd.docker.distribution.events.v1+json"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_devserver(tmp_path_factory.mktemp("devserver"))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


DEV_TOKEN: Any = object()  # call(): send the server's dev token


def call(
    server: RunningServer,
    method: str,
    path: str,
    body: str | None = None,
    *,
    token: str | None = DEV_TOKEN,
    **headers: str,
) -> Reply:
    """One request; with the server's dev token unless another ``token`` (or None) is given."""
    if token is DEV_TOKEN:
        token = server.token
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body.encode("utf-8") if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw, reply_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, reply_headers = error.code, error.read(), error.headers
    parsed = json.loads(raw) if raw else None
    return Reply(status, dict(reply_headers.items()), parsed)


def call_event(
    server: RunningServer, event: dict[str, Any], *, token: str | None = DEV_TOKEN
) -> Reply:
    """Send the request a sample event describes (its path, method and body)."""
    content_type = (event.get("headers") or {}).get("Content-Type", "application/json")
    return call(
        server,
        event["httpMethod"],
        event["path"],
        event["body"],
        token=token,
        **{"Content-Type": content_type},
    )


def assert_status(reply: Reply, code: int, reason: str) -> None:
    assert reply.status == code, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.body["kind"] == "Status"
    assert reply.body["apiVersion"] == "v1"
    assert reply.body["status"] == "Failure"
    assert reply.body["reason"] == reason
    assert reply.body["code"] == code
    assert reply.body["message"]


def test_prints_url_dev_token_and_example_curl(devserver: RunningServer) -> None:
    printed = devserver.printed()

    assert devserver.url.startswith("http://127.0.0.1:")
    assert list(devserver.tokens) == ["demo"]
    assert len(devserver.token) >= 32
    assert "curl" in printed
    assert "/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports" in printed
    assert f'-H "Authorization: Bearer {devserver.token}"' in printed


# --- Every route needs a token for its namespace ------------------------------------

# One request per route of the template, in namespace {ns}: method, path, sample event.
ROUTE_REQUESTS = [
    ("POST", "imagestreamimports", "api-import-invalid"),
    ("PUT", "imagestreamimports", None),
    ("GET", "imagestreamimports/busybox", None),
    ("GET", "imagestreams", None),
    ("GET", "imagestreams/busybox", None),
    ("DELETE", "imagestreams/busybox", None),
    ("GET", "imagestreamtags", None),
    ("GET", "imagestreamtags/busybox:latest", None),
    ("GET", "imagestreamimages", None),
    ("GET", "imagestreamimages/busybox@sha256:abc", None),
    ("GET", "frobnicators", None),
]
ROUTE_IDS = [f"{method}-{path}" for method, path, _ in ROUTE_REQUESTS]


def call_route(
    server: RunningServer, route: tuple[str, str, str | None], namespace: str, token: Any
) -> Reply:
    method, path, sample = route
    body = load_event(sample)["body"] if sample else None
    headers = {"Content-Type": "application/json"} if body else {}
    return call(server, method, f"{NAMESPACES}/{namespace}/{path}", body, token=token, **headers)


def test_the_route_requests_cover_every_guarded_route_of_the_template() -> None:
    template = load_template(ROOT / "template.yaml")
    table = RouteTable(template.routes())
    # Discovery and OpenAPI are outside namespaces, for any valid token: not these tables'.
    guarded = {
        (r.method, r.path)
        for r in template.routes()
        if r.authorizer is not None and (r.path.startswith(NAMESPACES) or r.path == "/{proxy+}")
    }

    reached = set()
    for method, path, _ in ROUTE_REQUESTS:
        match = table.match(method, f"{NAMESPACES}/demo/{path}")
        assert match is not None
        reached.add((match.route.method, match.route.path))

    assert reached == guarded


@pytest.mark.parametrize("route", ROUTE_REQUESTS, ids=ROUTE_IDS)
def test_every_route_without_a_token_is_401(
    devserver: RunningServer, route: tuple[str, str, str | None]
) -> None:
    reply = call_route(devserver, route, "demo", token=None)

    assert_status(reply, 401, "Unauthorized")
    assert reply.headers["x-amzn-ErrorType"] == "UnauthorizedException"


@pytest.mark.parametrize("route", ROUTE_REQUESTS, ids=ROUTE_IDS)
def test_every_route_with_a_wrong_token_is_401(
    devserver: RunningServer, route: tuple[str, str, str | None]
) -> None:
    wrong = call_route(devserver, route, "demo", token="not-" + devserver.token)
    not_bearer = call(
        devserver,
        route[0],
        f"{NAMESPACES}/demo/{route[1]}",
        token=None,
        Authorization=f"Basic {devserver.token}",
    )

    assert_status(wrong, 401, "Unauthorized")
    assert_status(not_bearer, 401, "Unauthorized")


# The routes of the function's resources (a verb a resource lacks is authorized first, as
# in the API server, then 405); the others are unknown to it: 404.
SERVED = {"POST-imagestreamimports", "GET-imagestreamimports/busybox", "GET-imagestreams"}
SERVED |= {"GET-imagestreams/busybox", "DELETE-imagestreams/busybox", "PUT-imagestreamimports"}
SERVED |= {"GET-imagestreamtags", "GET-imagestreamtags/busybox:latest", "GET-imagestreamimages"}
SERVED |= {"GET-imagestreamimages/busybox@sha256:abc"}


@pytest.mark.parametrize("route", ROUTE_REQUESTS, ids=ROUTE_IDS)
def test_every_route_in_a_namespace_not_granted_is_the_functions_403_or_404(
    devserver: RunningServer, route: tuple[str, str, str | None]
) -> None:
    # The authorizer lets every valid token through; the function decides.
    reply = call_route(devserver, route, "other", token=devserver.token)

    if f"{route[0]}-{route[1]}" in SERVED:
        assert_status(reply, 403, "Forbidden")
        assert 'User "dev-1" cannot' in reply.body["message"]
        assert 'in the namespace "other"' in reply.body["message"]
    else:
        assert_status(reply, 404, "NotFound")
    assert "x-amzn-ErrorType" not in reply.headers


@pytest.mark.parametrize("route", ROUTE_REQUESTS, ids=ROUTE_IDS)
def test_every_route_in_the_granted_namespace_reaches_the_handler(
    devserver: RunningServer, route: tuple[str, str, str | None]
) -> None:
    reply = call_route(devserver, route, "demo", token=devserver.token)

    assert reply.status not in (401, 403), reply.body
    assert "x-amzn-ErrorType" not in reply.headers


# Clients of the burst, and seconds each may wait for its answer (far more than
# it needs: the machine may be busy).
BURST_CLIENTS = 100
BURST_TIMEOUT = 30.0


def test_a_burst_of_concurrent_clients_gets_answers_without_connection_errors(
    devserver: RunningServer,
) -> None:
    # Given 100 clients, each ready to ask for a route the handler answers 404
    url = f"{devserver.url}{NAMESPACES}/demo/frobnicators"
    headers = {"Authorization": f"Bearer {devserver.token}"}
    start = threading.Barrier(BURST_CLIENTS)
    outcomes: list[str] = []

    def client() -> None:
        start.wait(timeout=BURST_TIMEOUT)
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=BURST_TIMEOUT) as response:
                outcomes.append(str(response.status))
        except urllib.error.HTTPError as error:
            outcomes.append(str(error.code))
        except (OSError, http.client.HTTPException) as error:
            outcomes.append(f"{type(error).__name__}: {error}")

    # When they all connect at the same moment
    threads = [threading.Thread(target=client, daemon=True) for _ in range(BURST_CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 2 * BURST_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))

    # Then each gets the handler's answer: none is reset, refused or left waiting
    assert collections.Counter(outcomes) == {"404": BURST_CLIENTS}


def test_body_that_is_not_json_is_400(devserver: RunningServer) -> None:
    reply = call_event(devserver, load_event("api-import-not-json"))

    assert_status(reply, 400, "BadRequest")


def test_unknown_route_is_404_from_the_handler(devserver: RunningServer) -> None:
    reply = call_event(devserver, load_event("api-unknown-route"))

    assert_status(reply, 404, "NotFound")
    assert "x-amzn-ErrorType" not in reply.headers


def test_root_path_is_404_from_the_gateway(devserver: RunningServer) -> None:
    # No route matches, so no authorizer runs: a token is not even needed.
    reply = call(devserver, "GET", "/", token=None)

    assert_status(reply, 404, "NotFound")
    assert reply.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_invalid_import_is_422(devserver: RunningServer) -> None:
    reply = call_event(devserver, load_event("api-import-invalid"))

    assert_status(reply, 422, "Invalid")


def test_imports_an_image_from_a_registry_on_loopback(
    devserver: RunningServer, anon_registry: Any, push_image: Any
) -> None:
    pushed = push_image(anon_registry)
    event = with_images(load_event("api-import-single"), pushed.pull_spec)

    reply = call_event(devserver, event)

    assert reply.status == 201, reply.body
    assert reply.body["kind"] == "ImageStreamImport"
    assert reply.body["metadata"]["name"] == body_of(event)["metadata"]["name"]
    (result,) = reply.body["status"]["images"]
    assert result["status"]["status"] == "Success", result["status"]
    assert result["image"]["metadata"]["name"] == pushed.digest


def test_each_invocation_prints_one_line_of_its_metrics(
    devserver: RunningServer, anon_registry: Any, push_image: Any
) -> None:
    # Given an image on loopback, imported once so the next import is from the cache
    pushed = push_image(anon_registry)
    event = with_images(load_event("api-import-single"), pushed.pull_spec)
    assert call_event(devserver, event).status == 201

    # When it is imported again
    before = len(devserver.printed().splitlines())
    assert call_event(devserver, event).status == 201

    # Then the api function's metrics line says so, and no EMF document is printed raw
    def api_lines() -> list[str]:
        lines = devserver.printed().splitlines()[before:]
        return [line for line in lines if line.startswith("metrics ApiFunction: ")]

    (line,) = wait_for(api_lines)
    assert "Imports{operation=import}=1" in line
    assert "TagsImported{operation=import}=1" in line
    assert "CacheHits=1" in line
    # (not tagged into a stream: resolved by its manifest GET, the cache spares the config)
    assert "RegistryLatency{kind=manifest-get}=" in line
    assert '"_aws"' not in devserver.printed()


def test_unknown_fields_reach_the_client_as_one_warning_header_each(
    devserver: RunningServer, anon_registry: Any, push_image: Any
) -> None:
    pushed = push_image(anon_registry)
    body = body_of(with_images(load_event("api-import-single"), pushed.pull_spec))
    body["spec"]["surprise"] = 1
    body["spec"]["images"][0]["extra"] = True
    request = urllib.request.Request(
        devserver.url + "/apis/image.openshift.io/v1/namespaces/demo/imagestreamimports",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {devserver.token}", "Content-Type": "application/json"},
    )

    with urllib.request.urlopen(request, timeout=60) as response:
        warnings = response.headers.get_all("Warning")

    assert response.status == 201
    assert warnings == [
        '299 - "unknown field \\"spec.images[0].extra\\""',
        '299 - "unknown field \\"spec.surprise\\""',
    ]


def test_the_callers_environment_sets_the_registry_address_policy(
    devserver: RunningServer, tmp_path: Path, anon_registry: Any, push_image: Any
) -> None:
    # Given an image in a registry on loopback
    pushed = push_image(anon_registry)
    event = with_images(load_event("api-import-single"), pushed.pull_spec)

    # When the default server imports it, and one started with ALLOW_PRIVATE_REGISTRIES=false
    allowed = call_event(devserver, event)
    server = start_devserver(tmp_path, ALLOW_PRIVATE_REGISTRIES="false")
    try:
        refused = call_event(server, event)
        printed = server.printed()
    finally:
        server.stop()

    # Then only the default server reaches the registry; the other refuses it per image
    assert allowed.status == 201, allowed.body
    assert allowed.body["status"]["images"][0]["status"]["status"] == "Success"
    assert refused.status == 201, refused.body
    (result,) = refused.body["status"]["images"]
    assert result["status"]["status"] == "Failure", result["status"]
    assert (result["status"]["reason"], result["status"]["code"]) == ("Forbidden", 403)
    assert "non-public address" in result["status"]["message"]
    assert "ALLOWED_PRIVATE_CIDRS=127.0.0.0/8,::1/128" in devserver.printed()
    assert "ALLOW_PRIVATE_REGISTRIES=false ALLOWED_PRIVATE_CIDRS=(unset)" in printed


def test_dry_run_of_several_images_includes_manifests(
    devserver: RunningServer, anon_registry: Any, push_image: Any
) -> None:
    first, second = push_image(anon_registry), push_image(anon_registry, tag="v2")
    event = with_images(load_event("api-import-dry-run-many"), first.pull_spec, second.pull_spec)

    reply = call_event(devserver, event)

    assert reply.status == 201, reply.body
    results = reply.body["status"]["images"]
    assert [r["status"]["status"] for r in results] == ["Success", "Success"]
    assert [r["image"]["metadata"]["name"] for r in results] == [first.digest, second.digest]
    assert all(r["image"]["dockerImageManifest"] for r in results)


def test_import_into_a_stream_then_read_it_back(
    devserver: RunningServer, anon_registry: Any, push_image: Any
) -> None:
    pushed = push_image(anon_registry)
    event = with_images(load_event("api-import-with-import-true"), pushed.pull_spec)
    name = body_of(event)["metadata"]["name"]

    created = call_event(devserver, event)
    stream = call_event(devserver, with_name(load_event("api-get-stream"), name))
    listed = call_event(devserver, load_event("api-list-streams"))
    latest = call_event(devserver, with_name(load_event("api-get-import"), name))

    assert created.status == 201, created.body
    assert stream.status == 200, stream.body
    assert stream.body == created.body["status"]["import"]
    assert name in [item["metadata"]["name"] for item in listed.body["items"]]
    assert latest.body == created.body


def test_a_large_repository_import_completes_through_the_local_queue(
    tmp_path: Path, anon_registry: Any, push_tags: Any
) -> None:
    # A tiny inline budget (0.4 ms of 4 s, less than the listing takes): every tag
    # goes through the queue and the worker.
    server = start_devserver(tmp_path, IMPORT_TIME_BUDGET="4", INLINE_FRACTION="0.0001")
    try:
        pushed = push_tags(anon_registry, 200)
        event = load_event("api-import-repository")
        body = body_of(event)
        body["metadata"]["name"] = "fanned"
        body["spec"]["repository"]["from"]["name"] = f"{anon_registry.host}/{pushed[0].repository}"
        accepted = call_event(server, with_body(event, body))
        assert accepted.status == 202, accepted.body

        deadline = time.monotonic() + 120
        latest = call_event(server, with_name(load_event("api-get-import"), "fanned"))
        while latest.body["metadata"]["annotations"]["imagestreams.io/import-state"] != "Complete":
            assert time.monotonic() < deadline, latest.body["metadata"]["annotations"]
            time.sleep(0.5)
            latest = call_event(server, with_name(load_event("api-get-import"), "fanned"))
    finally:
        server.stop()

    repository = latest.body["status"]["repository"]
    assert repository["status"]["status"] == "Success"
    assert len(repository["images"]) == 200
    assert len(latest.body["status"]["import"]["status"]["tags"]) == 200


def test_more_tokens_and_pull_secrets_from_the_environment(
    tmp_path: Path, htpasswd_registry: Any, push_image: Any
) -> None:
    # Given a private image, and its credentials as team-a's pull secret
    pushed = push_image(htpasswd_registry)
    username, password = htpasswd_registry.credentials
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    pull_secrets = tmp_path / "pull-secrets.json"
    pull_secrets.write_text(
        json.dumps({"team-a": {"auths": {htpasswd_registry.host: {"auth": auth}}}})
    )

    # When the server starts with a token per grant and those pull secrets
    server = start_devserver(
        tmp_path, DEVSERVER_TOKENS="team-a,team-b; *", DEVSERVER_PULL_SECRETS=str(pull_secrets)
    )
    try:
        team_token, admin_token = server.tokens["team-a,team-b"], server.tokens["*"]
        document = body_of(with_images(load_event("api-import-single"), pushed.pull_spec))
        document["metadata"].pop("namespace", None)  # the path names it
        body = json.dumps(document)
        imported = call(
            server,
            "POST",
            f"{NAMESPACES}/team-a/imagestreamimports",
            body,
            token=team_token,
            **{"Content-Type": "application/json"},
        )
        without_secret = call(
            server,
            "POST",
            f"{NAMESPACES}/team-b/imagestreamimports",
            body,
            token=team_token,
            **{"Content-Type": "application/json"},
        )
        outside = call(server, "GET", f"{NAMESPACES}/demo/imagestreams", token=team_token)
        admin = call(server, "GET", f"{NAMESPACES}/anywhere/imagestreams", token=admin_token)
        printed = server.printed()
    finally:
        server.stop()

    # Then each token has its grants, and only team-a can pull with team-a's secret
    assert imported.status == 201, imported.body
    assert imported.body["status"]["images"][0]["status"]["status"] == "Success"
    assert without_secret.body["status"]["images"][0]["status"]["status"] == "Failure"
    assert_status(outside, 403, "Forbidden")
    assert admin.status == 200, admin.body
    assert "pull secret imagestreams/team-a/pull-secret" in printed
    assert password not in printed
    assert auth not in printed


BAD_SETTINGS = [
    pytest.param("DEVSERVER_TOKENS", "Not_A_Namespace", id="dev-token-grants"),
    pytest.param("IMPORT_PARALLELISM", "many", id="a-functions-setting"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_bad_local_settings_stop_the_server_with_a_message(
    tmp_path: Path, name: str, value: str
) -> None:
    environ = devserver_environment(tmp_path, **{name: value})

    result = subprocess.run(
        [sys.executable, "-m", "devserver"],
        cwd=ROOT,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )

    assert result.returncode == 1
    assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_the_server_cleanly(tmp_path: Path) -> None:
    server = start_devserver(tmp_path)

    code = server.stop()

    assert code == 0, server.stderr()
    assert "stopped" in server.printed()


# --- Re-imports: the schedule on demand, registry push notifications -------------------


def track(
    server: RunningServer,
    namespace: str,
    stream: str,
    pull_spec: str,
    *,
    token: str | None = DEV_TOKEN,
    scheduled: bool = False,
) -> Reply:
    """Import ``pull_spec`` into ``namespace/stream`` (tag ``latest``), so the stream tracks it."""
    document = body_of(with_images(load_event("api-import-with-import-true"), pull_spec))
    document["metadata"] = {"name": stream}
    document["spec"]["images"][0]["importPolicy"] = {"scheduled": scheduled}
    reply = call(
        server,
        "POST",
        f"{NAMESPACES}/{namespace}/imagestreamimports",
        json.dumps(document),
        token=token,
        **{"Content-Type": "application/json"},
    )
    assert reply.status == 201, reply.body
    assert reply.body["status"]["images"][0]["status"]["status"] == "Success", reply.body
    return reply


def history(
    server: RunningServer, namespace: str, stream: str, *, token: str | None = DEV_TOKEN
) -> list[str]:
    """The image digests of the stream's ``latest`` tag, newest first."""
    reply = call(server, "GET", f"{NAMESPACES}/{namespace}/imagestreams/{stream}", token=token)
    assert reply.status == 200, reply.body
    (tag,) = [t for t in reply.body["status"]["tags"] if t["tag"] == "latest"]
    return [item["image"] for item in tag["items"]]


def test_prints_the_webhook_secret_and_the_local_routes(devserver: RunningServer) -> None:
    secret = devserver.webhook_secret()
    printed = devserver.printed()

    assert len(secret) >= 32
    assert f"curl -sS -X POST {devserver.url}/webhooks/distribution" in printed
    assert f'-H "Authorization: Bearer {secret}"' in printed
    assert f"curl -sS -X POST {devserver.url}/_local/schedule" in printed
    assert f"curl -sS -X POST {devserver.url}/_local/events" in printed
    assert "SchedulerFunction.Schedule (ScheduleV2): rate(15 minutes)" in printed


def test_an_ecr_push_event_reaches_the_scheduler(devserver: RunningServer) -> None:
    sample = load_event("ecr-image-push")

    delivered = call(devserver, "POST", "/_local/events", json.dumps(sample), token=None)
    malformed = call(devserver, "POST", "/_local/events", "not an event", token=None)

    assert delivered.status == 200, delivered.body
    assert delivered.body["event"] == sample
    (invocation,) = delivered.body["invoked"]
    assert (invocation["function"], invocation["trigger"]) == ("SchedulerFunction", "EcrPush")
    assert invocation["result"] == {"queued": 0}  # nothing tracks that ECR image here
    assert_status(malformed, 400, "BadRequest")


def test_a_scheduled_tag_follows_a_re_push_when_the_schedule_runs(
    devserver: RunningServer, anon_registry: Any, push_image: Any, unique_repo: Any
) -> None:
    # Given a stream tag imported with importPolicy.scheduled
    repository = unique_repo("scheduled")
    first = push_image(anon_registry, repository, "v1", via="api")
    stream = f"scheduled-{secrets.token_hex(3)}"
    track(devserver, "demo", stream, first.pull_spec, scheduled=True)
    assert history(devserver, "demo", stream) == [first.digest]

    # When the image is re-pushed and the schedule is run on demand
    second = repush_tag(anon_registry, repository, "v1")
    ran = call(devserver, "POST", "/_local/schedule", token=None)

    # Then the scheduler queued it, and the worker adds the new image to the history
    assert ran.status == 200, ran.body
    (invocation,) = ran.body["invoked"]
    assert (invocation["function"], invocation["type"]) == ("SchedulerFunction", "ScheduleV2")
    assert invocation["event"]["detail-type"] == "Scheduled Event"
    assert invocation["result"]["queued"] >= 1
    items = wait_for(lambda: len(found := history(devserver, "demo", stream)) == 2 and found)
    assert items == [second.digest, first.digest]


def test_a_push_notification_re_imports_exactly_the_streams_tracking_the_tag(
    tmp_path: Path, anon_registry: Any, push_image: Any, unique_repo: Any
) -> None:
    # Given two namespaces tracking repo:v1, and a stream tracking repo:v2
    server = start_devserver(tmp_path, DEVSERVER_TOKENS="team-a,team-b")
    try:
        token = server.tokens["team-a,team-b"]
        repository = unique_repo("pushed")
        v1 = push_image(anon_registry, repository, "v1", via="api")
        v2 = push_image(anon_registry, repository, "v2", via="api")
        track(server, "team-a", "app", v1.pull_spec, token=token)
        track(server, "team-b", "app", v1.pull_spec, token=token)
        track(server, "team-a", "other", v2.pull_spec, token=token)

        # When both tags are re-pushed and the registry notifies the push of v1
        new_v1 = repush_tag(anon_registry, repository, "v1")
        repush_tag(anon_registry, repository, "v2")
        envelope = json.loads(load_event("webhook-distribution-push")["body"])
        envelope["events"][0]["target"].update(
            repository=repository, tag="v1", digest=new_v1.digest
        )
        envelope["events"][0]["request"]["host"] = anon_registry.host
        notified = call(
            server,
            "POST",
            "/webhooks/distribution",
            json.dumps(envelope),
            token=server.webhook_secret(),
            **{"Content-Type": DISTRIBUTION_CONTENT_TYPE},
        )
        unauthenticated = call(
            server,
            "POST",
            "/webhooks/distribution",
            json.dumps(envelope),
            token=token,
            **{"Content-Type": DISTRIBUTION_CONTENT_TYPE},
        )

        # Then both tracking streams get the new image; the other stays as it was
        assert notified.status == 202, notified.body
        assert notified.body["message"] == "2 stream tags queued for re-import"
        assert_status(unauthenticated, 401, "Unauthorized")
        for namespace in ("team-a", "team-b"):
            items = wait_for(
                lambda ns=namespace: (
                    len(found := history(server, ns, "app", token=token)) == 2 and found
                )
            )
            assert items == [new_v1.digest, v1.digest], namespace
        assert history(server, "team-a", "other", token=token) == [v2.digest]
    finally:
        server.stop()


def test_make_run_imports_from_ecr_with_its_moto_role(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, push_image: Any
) -> None:
    # Given a local registry standing in for the stack's ECR registry: its only user is the
    # one moto's GetAuthorizationToken names (no pull secret is stored)
    from testkit.registry import start_htpasswd_registry

    account = "123456789012"
    ecr = f"{account}.dkr.ecr.us-east-1.amazonaws.com"
    registry = start_htpasswd_registry(
        tmp_path_factory.mktemp("ecr"), username="AWS", password=f"{account}-auth-token"
    )
    server = start_devserver(tmp_path, REGISTRY_ENDPOINTS=f"{ecr}={registry.host}")
    try:
        pushed = push_image(registry, via="api")
        pull_spec = f"{ecr}/{pushed.repository}:{pushed.tag}"

        # When the local server imports the ECR image
        reply = call_event(server, with_images(load_event("api-import-single"), pull_spec))
    finally:
        server.stop()
        registry.stop()

    # Then its role (moto's ECR) signed in, as deployed
    assert reply.status == 201, reply.body
    (image,) = reply.body["status"]["images"]
    assert image["status"]["status"] == "Success", image["status"]
    assert image["image"]["metadata"]["name"] == pushed.digest
