"""The local server's EventBridge side: pattern matching, events, and the ``/_local/`` routes.

Handlers here are fakes; ``tests/e2e/test_devserver.py`` runs the real
scheduler and worker through these routes against a real registry.
"""

from __future__ import annotations

import http.client
import json
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devserver.gateway import EventOptions, HttpRequest, RouteTable
from devserver.resources import CreatedResources
from devserver.server import DevServer, FunctionRuntime, LocalAuthorizer, LocalGateway
from devserver.template import (
    AuthorizerSpec,
    EventBridgeEvent,
    FunctionSpec,
    Route,
    Template,
    TemplateError,
    load_template,
)
from devserver.triggers import (
    EVENTS_PATH,
    SCHEDULE_PATH,
    EventError,
    Invocation,
    LocalTriggers,
    PatternError,
    Trigger,
    check_pattern,
    event_from_body,
    matches,
    resolve_trigger,
    scheduled_event,
)
from testkit.events import load_event

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 9, 15, tzinfo=UTC)


def _template(text: str, tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_template(path)


# --- Pattern matching ---------------------------------------------------------------

ECR_PUSH = {
    "source": "aws.ecr",
    "detail-type": "ECR Image Action",
    "account": "123456789012",
    "detail": {
        "action-type": "PUSH",
        "result": "SUCCESS",
        "repository-name": "team/app",
        "image-tag": "v1",
        "size": 708,
        "scanned": False,
        "note": None,
        "tags": ["v1", "latest"],
        "layers": [{"digest": "sha256:a", "size": 10}, {"digest": "sha256:b", "size": 20}],
    },
}

# (pattern, matches ECR_PUSH)
PATTERNS: list[tuple[str, dict[str, Any], bool]] = [
    ("empty-pattern", {}, True),
    ("exact-value", {"source": ["aws.ecr"]}, True),
    ("one-of-several", {"source": ["aws.s3", "aws.ecr"]}, True),
    ("other-value", {"source": ["aws.s3"]}, False),
    ("case-sensitive", {"source": ["AWS.ECR"]}, False),
    ("all-fields-must-match", {"source": ["aws.ecr"], "detail-type": ["Other"]}, False),
    ("nested", {"detail": {"action-type": ["PUSH"], "result": ["SUCCESS"]}}, True),
    ("nested-mismatch", {"detail": {"action-type": ["PUSH"], "result": ["FAILURE"]}}, False),
    ("missing-field", {"detail": {"image-digest": ["sha256:x"]}}, False),
    ("missing-object", {"nothing": {"here": ["x"]}}, False),
    ("object-where-a-value-is", {"source": {"inner": ["aws.ecr"]}}, False),
    ("value-where-an-object-is", {"detail": ["PUSH"]}, False),
    ("number", {"detail": {"size": [708]}}, True),
    ("number-as-float", {"detail": {"size": [708.0]}}, True),
    ("number-is-not-a-string", {"detail": {"size": ["708"]}}, False),
    ("string-is-not-a-number", {"account": [123456789012]}, False),
    ("boolean", {"detail": {"scanned": [False]}}, True),
    ("boolean-is-not-zero", {"detail": {"scanned": [0]}}, False),
    ("null", {"detail": {"note": [None]}}, True),
    ("null-is-not-missing", {"detail": {"image-digest": [None]}}, False),
    ("any-element-of-a-list", {"detail": {"tags": ["latest"]}}, True),
    ("no-element-of-a-list", {"detail": {"tags": ["v2"]}}, False),
    ("list-of-objects", {"detail": {"layers": {"digest": ["sha256:b"]}}}, True),
    ("list-of-objects-mismatch", {"detail": {"layers": {"digest": ["sha256:c"]}}}, False),
    ("prefix", {"detail": {"repository-name": [{"prefix": "team/"}]}}, True),
    ("prefix-mismatch", {"detail": {"repository-name": [{"prefix": "other/"}]}}, False),
    ("prefix-of-a-number", {"detail": {"size": [{"prefix": "7"}]}}, False),
    ("suffix", {"detail": {"repository-name": [{"suffix": "/app"}]}}, True),
    ("equals-ignore-case", {"detail": {"action-type": [{"equals-ignore-case": "push"}]}}, True),
    ("anything-but", {"detail": {"result": [{"anything-but": "FAILURE"}]}}, True),
    ("anything-but-list", {"detail": {"result": [{"anything-but": ["A", "SUCCESS"]}]}}, False),
    ("anything-but-number", {"detail": {"size": [{"anything-but": [1, 2]}]}}, True),
    ("anything-but-prefix", {"detail": {"image-tag": [{"anything-but": {"prefix": "v"}}]}}, False),
    ("anything-but-missing", {"detail": {"image-digest": [{"anything-but": "x"}]}}, False),
    ("numeric-range", {"detail": {"size": [{"numeric": [">", 0, "<=", 708]}]}}, True),
    ("numeric-out-of-range", {"detail": {"size": [{"numeric": ["<", 708]}]}}, False),
    ("numeric-of-a-string", {"source": [{"numeric": [">", 0]}]}, False),
    ("exists", {"detail": {"image-tag": [{"exists": True}]}}, True),
    ("exists-missing", {"detail": {"image-digest": [{"exists": True}]}}, False),
    ("not-exists", {"detail": {"image-digest": [{"exists": False}]}}, True),
    ("not-exists-present", {"detail": {"image-tag": [{"exists": False}]}}, False),
    ("not-exists-below-a-missing-object", {"nothing": {"here": [{"exists": False}]}}, True),
    ("value-or-operator", {"detail": {"image-tag": ["v9", {"prefix": "v1"}]}}, True),
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [(pattern, expected) for _, pattern, expected in PATTERNS],
    ids=[name for name, _, _ in PATTERNS],
)
def test_pattern_matching(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, ECR_PUSH) is expected


BAD_PATTERNS: list[tuple[str, Any, str]] = [
    ("not-an-object", ["aws.ecr"], "a pattern is a JSON object"),
    ("scalar-value", {"source": "aws.ecr"}, "source: pattern values are lists or objects"),
    ("empty-list", {"source": []}, "source: an empty list matches nothing"),
    ("wildcard", {"source": [{"wildcard": "aws.*"}]}, "'wildcard' operator is not emulated"),
    ("cidr", {"detail": {"ip": [{"cidr": "10.0.0.0/8"}]}}, "detail.ip: the 'cidr' operator"),
    ("or", {"$or": [{"source": ["a"]}, {"source": ["b"]}]}, "$or is not emulated"),
    ("two-operators", {"source": [{"prefix": "a", "suffix": "b"}]}, "neither a value nor one"),
    ("list-value", {"source": [["aws.ecr"]]}, "neither a value nor one operator"),
    ("prefix-not-a-string", {"source": [{"prefix": 1}]}, "prefix takes a string"),
    ("exists-not-a-boolean", {"source": [{"exists": "yes"}]}, "exists takes true or false"),
    ("anything-but-wildcard", {"source": [{"anything-but": {"wildcard": "a*"}}]}, "anything-but"),
    ("anything-but-null", {"source": [{"anything-but": [None]}]}, "strings or numbers"),
    ("numeric-odd", {"detail": {"size": [{"numeric": [">", 0, "<"]}]}}, "numeric takes"),
    ("numeric-bad-operator", {"detail": {"size": [{"numeric": ["!=", 0]}]}}, "not a numeric"),
]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [(pattern, message) for _, pattern, message in BAD_PATTERNS],
    ids=[name for name, _, _ in BAD_PATTERNS],
)
def test_patterns_the_matcher_cannot_evaluate_are_errors(pattern: Any, message: str) -> None:
    with pytest.raises(PatternError, match=message.replace("$", r"\$")):
        check_pattern(pattern)
    with pytest.raises(PatternError):
        matches(pattern, ECR_PUSH)


def test_an_unsupported_operator_is_an_error_even_after_a_mismatch() -> None:
    pattern = {"source": ["aws.s3"], "detail": {"x": [{"wildcard": "*"}]}}

    with pytest.raises(PatternError, match="wildcard"):
        matches(pattern, ECR_PUSH)


def test_the_projects_ecr_rule_matches_the_sample_push_only() -> None:
    template = load_template(ROOT / "template.yaml")
    (rule,) = [e for spec in template.functions() for e in spec.rule_events]
    pattern = rule.properties["Pattern"]
    push = load_event("ecr-image-push")
    failed = {**push, "detail": {**push["detail"], "result": "FAILURE"}}
    deleted = {**push, "detail": {**push["detail"], "action-type": "DELETE"}}

    assert matches(pattern, push)
    assert not matches(pattern, failed)
    assert not matches(pattern, deleted)
    assert not matches(pattern, load_event("scheduled-reimport"))


# --- Events --------------------------------------------------------------------------


def test_a_posted_event_gets_the_envelope_fields_it_lacks() -> None:
    body = json.dumps({"source": "my.app", "detail-type": "Thing Happened", "detail": {"a": 1}})

    event = event_from_body(body.encode(), now=NOW, event_id="e-1")

    assert event == {
        "version": "0",
        "id": "e-1",
        "detail-type": "Thing Happened",
        "source": "my.app",
        "account": "123456789012",
        "time": "2026-11-27T09:15:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"a": 1},
    }


def test_a_complete_posted_event_is_kept_as_it_is() -> None:
    sample = load_event("ecr-image-push")

    event = event_from_body(json.dumps(sample).encode(), now=NOW)

    assert event == sample
    assert list(event) == list(sample)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"nope", "not JSON"),
        (b"\xff", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"detail-type": "X"}', 'no "source"'),
        (b'{"source": "a"}', 'no "detail-type"'),
        (b'{"source": "", "detail-type": "X"}', 'no "source"'),
        (b'{"source": "a", "detail-type": "X", "detail": "{}"}', '"detail" is not a JSON object'),
        (b'{"source": "a", "detail-type": "X", "resources": "r"}', '"resources" is not a list'),
        (b'{"source": "a", "detail-type": "X", "detail": {"p": "' + b"x" * 262144 + b'"}}', "256"),
    ],
    ids=[
        "empty",
        "not-json",
        "not-utf8",
        "not-an-object",
        "no-source",
        "no-detail-type",
        "empty-source",
        "detail-not-an-object",
        "resources-not-a-list",
        "too-large",
    ],
)
def test_malformed_posted_events_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(EventError, match=message):
        event_from_body(body)


def test_the_scheduled_event_has_the_samples_shape() -> None:
    sample = load_event("scheduled-reimport")
    arn = sample["resources"][0]

    event = scheduled_event("aws.scheduler", arn, now=NOW, event_id=sample["id"])

    assert event == {**sample, "time": "2026-11-27T09:15:00Z"}


# --- The template's EventBridge events -------------------------------------------------

EVENTS_TEMPLATE = """
Parameters:
  Every: {Type: String, Default: rate(5 minutes)}
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  Timed:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Timeout: 7
      Events:
        V2:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: !Ref Every
        V2Named:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 * * * ? *)
            Name: hourly
            GroupName: jobs
            Input: '{"kind": "hourly"}'
        Classic:
          Type: Schedule
          Properties:
            Schedule: rate(1 day)
        Paused:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 minute)
            State: DISABLED
        AlsoOff:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Enabled: false
        FromQueue:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
  Reacting:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Events:
        Pushes:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [my.app]
              detail:
                kind: [push]
        Details:
          Type: CloudWatchEvent
          Properties:
            InputPath: $.detail
            Pattern:
              source: [my.app]
        Fixed:
          Type: EventBridgeRule
          Properties:
            Input: !Sub '{"queue": "${Jobs}"}'
            Pattern:
              detail-type: [Fixed]
        Stopped:
          Type: EventBridgeRule
          Properties:
            State: DISABLED
            Pattern:
              source: [my.app]
  Quiet:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
"""


@pytest.fixture
def events_template(tmp_path: Path) -> Template:
    return _template(EVENTS_TEMPLATE, tmp_path)


def _created(template: Template) -> CreatedResources:
    """Stand-ins for created resources, so no AWS is needed."""
    return CreatedResources(
        template=template,
        refs={"Jobs": "https://sqs.local/jobs"},
        attributes={("Jobs", "Arn"): "arn:aws:sqs:us-east-1:123456789012:jobs"},
    )


def test_eventbridge_events_are_read_with_their_state(events_template: Template) -> None:
    specs = {spec.logical_id: spec for spec in events_template.functions()}

    timed = specs["Timed"]
    assert [(e.name, e.type, e.enabled) for e in timed.eventbridge_events] == [
        ("V2", "ScheduleV2", True),
        ("V2Named", "ScheduleV2", True),
        ("Classic", "Schedule", True),
        ("Paused", "ScheduleV2", False),
        ("AlsoOff", "Schedule", False),
    ]
    assert [e.name for e in timed.schedule_events] == ["V2", "V2Named", "Classic"]
    assert timed.rule_events == ()
    assert [e.name for e in specs["Reacting"].rule_events] == ["Pushes", "Details", "Fixed"]
    assert specs["Reacting"].schedule_events == ()
    assert specs["Quiet"].eventbridge_events == ()


def test_triggers_resolve_against_the_created_resources(events_template: Template) -> None:
    values = _created(events_template).intrinsics()
    events = {
        event.name: event
        for spec in events_template.functions()
        for event in spec.schedule_events + spec.rule_events
    }

    v2 = resolve_trigger(events["V2"], values)
    named = resolve_trigger(events["V2Named"], values)
    classic = resolve_trigger(events["Classic"], values, stack_name="stack")
    fixed = resolve_trigger(events["Fixed"], values)

    assert v2.expression == "rate(5 minutes)"
    assert v2.schedule_arn == ("arn:aws:scheduler:us-east-1:123456789012:schedule/default/TimedV2")
    assert named.schedule_arn == "arn:aws:scheduler:us-east-1:123456789012:schedule/jobs/hourly"
    assert named.payload({"ignored": True}) == {"kind": "hourly"}
    assert classic.schedule_arn == "arn:aws:events:us-east-1:123456789012:rule/stack-TimedClassic"
    assert fixed.pattern == {"detail-type": ["Fixed"]}
    assert fixed.payload({}) == {"queue": "https://sqs.local/jobs"}
    assert resolve_trigger(events["Details"], values).payload({"detail": {"a": 1}}) == {"a": 1}


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"InputTransformer": {"InputTemplate": "x"}, "Pattern": {}}, "InputTransformer"),
        ({"Input": "not json", "Pattern": {}}, "Input is not JSON"),
        ({"InputPath": "$.a[0]", "Pattern": {}}, "InputPath"),
        ({}, "needs a Pattern"),
        ({"Pattern": ["x"]}, "needs a Pattern"),
    ],
    ids=["input-transformer", "input-not-json", "input-path", "no-pattern", "pattern-not-object"],
)
def test_rules_the_local_server_cannot_deliver_are_template_errors(
    events_template: Template, properties: dict[str, Any], message: str
) -> None:
    event = EventBridgeEvent("Bad", "Reacting", "EventBridgeRule", properties)

    with pytest.raises(TemplateError, match=f"Reacting.Bad: .*{message}"):
        resolve_trigger(event, events_template.intrinsics())


def test_a_schedule_without_an_expression_is_a_template_error(events_template: Template) -> None:
    event = EventBridgeEvent("Bad", "Timed", "ScheduleV2", {"State": "ENABLED"})

    with pytest.raises(TemplateError, match="needs a ScheduleExpression"):
        resolve_trigger(event, events_template.intrinsics())


def test_the_projects_scheduler_has_the_schedule_and_the_ecr_rule(
    template_resources: CreatedResources,
) -> None:
    triggers = LocalTriggers.from_template(
        template_resources.template, template_resources, loader=lambda spec: _fail
    )

    assert [(t.function_id, t.name, t.type) for t in triggers.triggers] == [
        ("SchedulerFunction", "Schedule", "ScheduleV2"),
        ("SchedulerFunction", "EcrPush", "EventBridgeRule"),
    ]
    assert triggers.schedules[0].expression == "rate(15 minutes)"
    assert set(triggers.runtimes) == {"SchedulerFunction"}
    assert triggers.runtimes["SchedulerFunction"].spec.timeout == 60


# --- The routes ------------------------------------------------------------------------


def _fail(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("boom")


class Recorder:
    """A fake handler per function: records what it gets, answers its function's name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def loader(self, spec: FunctionSpec) -> Any:
        def handler(event: Any, context: Any) -> Any:
            with self.lock:
                self.calls.append((spec.logical_id, event))
            if isinstance(event, dict) and event.get("detail-type") == "Explode":
                raise RuntimeError("boom")
            return {
                "handled-by": spec.logical_id,
                "remaining": context.get_remaining_time_in_millis(),
            }

        return handler


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def triggers(events_template: Template, recorder: Recorder) -> LocalTriggers:
    return LocalTriggers.from_template(
        events_template,
        _created(events_template),
        loader=recorder.loader,
        log=lambda _: None,
        clock=lambda: NOW,
    )


def _post(triggers: LocalTriggers, path: str, body: Any = None) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
    response = triggers.handle(HttpRequest("POST", path, [], raw))
    assert response.header("Content-Type") == "application/json"
    return response.status, json.loads(response.body)


def test_schedule_runs_every_enabled_schedule_once(
    triggers: LocalTriggers, recorder: Recorder
) -> None:
    status, answer = _post(triggers, SCHEDULE_PATH)

    assert status == 200
    assert [(i["function"], i["trigger"], i["type"]) for i in answer["invoked"]] == [
        ("Timed", "V2", "ScheduleV2"),
        ("Timed", "V2Named", "ScheduleV2"),
        ("Timed", "Classic", "Schedule"),
    ]
    v2, named, classic = (event for _, event in recorder.calls)
    assert v2["source"] == "aws.scheduler"
    assert v2["detail-type"] == "Scheduled Event"
    assert v2["time"] == "2026-11-27T09:15:00Z"
    assert named == {"kind": "hourly"}
    assert classic["source"] == "aws.events"
    assert [i["event"] for i in answer["invoked"]] == [v2, named, classic]
    first = answer["invoked"][0]["result"]
    assert first["handled-by"] == "Timed"
    assert 0 < first["remaining"] <= 7000


def test_events_invoke_exactly_the_matching_rules(
    triggers: LocalTriggers, recorder: Recorder
) -> None:
    body = {"source": "my.app", "detail-type": "Push", "detail": {"kind": "push", "n": 1}}

    status, answer = _post(triggers, EVENTS_PATH, body)

    assert status == 200
    assert answer["event"]["source"] == "my.app"
    assert answer["event"]["time"] == "2026-11-27T09:15:00Z"
    assert [(i["function"], i["trigger"]) for i in answer["invoked"]] == [
        ("Reacting", "Pushes"),
        ("Reacting", "Details"),
    ]
    assert recorder.calls == [
        ("Reacting", answer["event"]),
        ("Reacting", {"kind": "push", "n": 1}),
    ]


def test_an_event_no_rule_matches_invokes_nothing(
    triggers: LocalTriggers, recorder: Recorder
) -> None:
    status, answer = _post(triggers, EVENTS_PATH, {"source": "other", "detail-type": "Push"})

    assert status == 200
    assert answer["invoked"] == []
    assert recorder.calls == []


def test_a_failing_function_is_reported_and_the_others_still_run(
    triggers: LocalTriggers, recorder: Recorder
) -> None:
    body = {"source": "my.app", "detail-type": "Explode", "detail": {"kind": "push"}}

    status, answer = _post(triggers, EVENTS_PATH, body)

    assert status == 200
    failed, ran = answer["invoked"]
    assert (failed["trigger"], failed["error"]) == ("Pushes", "RuntimeError: boom")
    assert "result" not in failed
    assert (ran["trigger"], ran["result"]["handled-by"]) == ("Details", "Reacting")
    assert "error" not in ran


def test_a_function_past_its_timeout_is_reported() -> None:
    release = threading.Event()

    def hang(event: Any, context: Any) -> Any:
        release.wait(10)
        return None

    trigger = Trigger("Timed", "V2", "ScheduleV2", "rate(1 hour)", "arn:schedule")
    spec = FunctionSpec("Timed", ROOT, "app.handler", 0, 128, {})
    runtime = FunctionRuntime(spec, loader=lambda _: hang)
    triggers = LocalTriggers([trigger], {"Timed": runtime}, log=lambda _: None)

    (invocation,) = triggers.run_schedules()
    release.set()

    assert invocation == Invocation(trigger, invocation.event, error="timed out after 0 s")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"nope", "not JSON"),
        (b'{"source": "my.app"}', 'no "detail-type"'),
    ],
    ids=["not-json", "not-an-event"],
)
def test_a_malformed_event_is_a_400_status(
    triggers: LocalTriggers, recorder: Recorder, body: bytes, message: str
) -> None:
    status, answer = _post(triggers, EVENTS_PATH, body)

    assert status == 400
    assert answer["kind"] == "Status"
    assert answer["reason"] == "BadRequest"
    assert answer["code"] == 400
    assert message in answer["message"]
    assert recorder.calls == []


def test_an_unsupported_pattern_is_a_400_and_nothing_runs(recorder: Recorder) -> None:
    good = Trigger("Fn", "Good", "EventBridgeRule", pattern={"source": ["my.app"]})
    bad = Trigger("Fn", "Bad", "EventBridgeRule", pattern={"source": [{"wildcard": "my.*"}]})
    spec = FunctionSpec("Fn", ROOT, "app.handler", 3, 128, {})
    triggers = LocalTriggers(
        [good, bad], {"Fn": FunctionRuntime(spec, loader=recorder.loader)}, log=lambda _: None
    )

    status, answer = _post(triggers, EVENTS_PATH, {"source": "my.app", "detail-type": "X"})

    assert status == 400
    assert answer["message"].startswith("Fn.Bad: source: the 'wildcard' operator")
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", SCHEDULE_PATH, 405, "MethodNotAllowed"),
        ("PUT", EVENTS_PATH, 405, "MethodNotAllowed"),
        ("POST", "/_local", 404, "NotFound"),
        ("POST", "/_local/other", 404, "NotFound"),
    ],
)
def test_other_methods_and_paths_are_statuses(
    triggers: LocalTriggers, method: str, path: str, status: int, reason: str
) -> None:
    response = triggers.handle(HttpRequest(method, path))

    answer = json.loads(response.body)
    assert response.status == status
    assert (answer["kind"], answer["reason"], answer["code"]) == ("Status", reason, status)
    if status == 405:
        assert response.header("Allow") == "POST"


@pytest.mark.parametrize(
    ("path", "handled"),
    [
        ("/_local", True),
        ("/_local/schedule", True),
        ("/_local/anything/else", True),
        ("/_localhost", False),
        ("/webhooks/distribution", False),
        ("/apis/image.openshift.io/v1/namespaces/_local/imagestreams", False),
    ],
)
def test_the_local_prefix(triggers: LocalTriggers, path: str, handled: bool) -> None:
    assert triggers.handles(path) is handled


def test_a_trailing_slash_reaches_the_route(triggers: LocalTriggers, recorder: Recorder) -> None:
    status, answer = _post(triggers, SCHEDULE_PATH + "/")

    assert status == 200
    assert len(answer["invoked"]) == 3


# --- Over HTTP, beside the gateway ---------------------------------------------------------


@pytest.fixture
def server(triggers: LocalTriggers) -> Iterator[DevServer]:
    def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps({"path": event["path"]})}

    # Every route of the API needs a token; the authorizer knows none.
    route = Route("/{proxy+}", "ANY", "Api", None, authorizer="Auth")
    api = FunctionSpec("Api", ROOT, "app.handler", 3, 128, {}, (route,))
    authorizer = LocalAuthorizer(
        AuthorizerSpec("Auth", "AuthFn"),
        FunctionRuntime(
            FunctionSpec("AuthFn", ROOT, "app.handler", 3, 128, {}), loader=lambda _: _fail
        ),
        log=lambda _: None,
    )
    gateway = LocalGateway(
        RouteTable([route]),
        {"Api": FunctionRuntime(api, loader=lambda _: echo)},
        EventOptions(stage="v1"),
        {},
        authorizers={"Auth": authorizer},
        log=lambda _: None,
    )
    dev = DevServer(("127.0.0.1", 0), gateway, triggers)
    thread = threading.Thread(target=dev.serve_forever, daemon=True)
    thread.start()
    try:
        yield dev
    finally:
        dev.shutdown()
        dev.server_close()


def _http(server: DevServer, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_local_routes_are_served_without_a_token_and_never_reach_the_gateway(
    server: DevServer, recorder: Recorder
) -> None:
    event = json.dumps({"source": "my.app", "detail-type": "D", "detail": {"kind": "push"}})

    scheduled = _http(server, "POST", SCHEDULE_PATH)
    delivered = _http(server, "POST", EVENTS_PATH, event.encode())
    unknown = _http(server, "POST", "/_local/nothing")
    refused = _http(server, "GET", "/elsewhere")

    assert scheduled[0] == 200
    assert len(scheduled[1]["invoked"]) == 3
    assert delivered[0] == 200
    assert [i["trigger"] for i in delivered[1]["invoked"]] == ["Pushes", "Details"]
    assert unknown[0] == 404
    assert refused == (401, {"message": "Unauthorized"})
