"""EventBridge for the local server: schedules run on demand, events matched by pattern.

Deployed, EventBridge invokes the functions that have ``Schedule`` or
``ScheduleV2`` events on their schedule, and those with ``EventBridgeRule``
or ``CloudWatchEvent`` events when an event matches the rule's ``Pattern``.
Locally nothing runs by itself; two routes of the local server, under
:data:`LOCAL_PREFIX` (handled by the server, never by a function), do it on
demand:

- ``POST /_local/schedule`` invokes every function with an enabled schedule
  event, once per event, with the event the schedule delivers
  (:func:`scheduled_event`, or the event's ``Input``);
- ``POST /_local/events`` takes an EventBridge event as the body (missing
  envelope fields are filled in, see :func:`event_from_body`) and invokes
  every function with an enabled rule whose pattern matches it
  (:func:`matches`).

Each function runs in its own environment, through the same
:class:`~devserver.server.FunctionRuntime` the gateway and the queue poller
use. The answer lists which functions ran, with what event, and what they
returned (or how they failed).

:func:`matches` implements EventBridge's pattern matching for exact values
(strings, numbers, ``null``, booleans), nested objects, and the ``prefix``,
``suffix``, ``equals-ignore-case``, ``anything-but``, ``numeric`` and
``exists`` operators; anything else is a :class:`PatternError`, which the
route reports as ``400`` without invoking anything. All rules are matched,
whatever bus they name.
"""

from __future__ import annotations

import json
import operator
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devserver.gateway import HttpRequest, HttpResponse
from devserver.resources import CreatedResources
from devserver.server import FunctionRuntime, Handler, InvocationTimeoutError, load_handler
from devserver.template import (
    DEFAULT_STACK_NAME,
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    EventBridgeEvent,
    FunctionSpec,
    Intrinsics,
    Template,
    TemplateError,
)

# Paths the local server answers itself; deployed, they are unknown routes.
LOCAL_PREFIX = "/_local"
SCHEDULE_PATH = f"{LOCAL_PREFIX}/schedule"
EVENTS_PATH = f"{LOCAL_PREFIX}/events"
# EventBridge's limit on one event.
MAX_EVENT_BYTES = 256 * 1024

_MISSING: Any = object()


# --- Event patterns ---------------------------------------------------------


class PatternError(ValueError):
    """An event pattern that is malformed or uses what the local matcher lacks."""


_STRING_OPERATORS = ("prefix", "suffix", "equals-ignore-case")
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def check_pattern(pattern: Any, where: str = "") -> None:
    """Raise :class:`PatternError` unless ``pattern`` is one :func:`matches` can evaluate."""
    if not isinstance(pattern, Mapping):
        raise PatternError(f"{where or 'the pattern'}: a pattern is a JSON object")
    for key, expected in pattern.items():
        path = f"{where}.{key}" if where else str(key)
        if str(key).startswith("$"):
            raise PatternError(f"{path}: {key} is not emulated locally")
        if isinstance(expected, Mapping):
            check_pattern(expected, path)
        elif isinstance(expected, list):
            if not expected:
                raise PatternError(f"{path}: an empty list matches nothing")
            for matcher in expected:
                _check_matcher(matcher, path)
        else:
            raise PatternError(
                f"{path}: pattern values are lists or objects, not {_text(expected)}"
            )


def _check_matcher(matcher: Any, path: str) -> None:
    if _is_plain(matcher):
        return
    if not isinstance(matcher, Mapping) or len(matcher) != 1:
        raise PatternError(f"{path}: {_text(matcher)} is neither a value nor one operator")
    ((name, argument),) = matcher.items()
    if name in _STRING_OPERATORS:
        if not isinstance(argument, str):
            raise PatternError(f"{path}: {name} takes a string")
    elif name == "exists":
        if not isinstance(argument, bool):
            raise PatternError(f"{path}: exists takes true or false")
    elif name == "anything-but":
        _check_anything_but(argument, path)
    elif name == "numeric":
        _comparisons(argument, path)
    else:
        raise PatternError(f"{path}: the {name!r} operator is not emulated locally")


def _check_anything_but(argument: Any, path: str) -> None:
    if isinstance(argument, Mapping):
        if len(argument) != 1 or next(iter(argument)) not in _STRING_OPERATORS:
            raise PatternError(
                f"{path}: anything-but takes values or one of {', '.join(_STRING_OPERATORS)}"
            )
        if not isinstance(next(iter(argument.values())), str):
            raise PatternError(f"{path}: anything-but's {next(iter(argument))} takes a string")
        return
    values = argument if isinstance(argument, list) else [argument]
    if not values or not all(isinstance(v, str) or _is_number(v) for v in values):
        raise PatternError(f"{path}: anything-but takes strings or numbers")


def _comparisons(argument: Any, path: str) -> list[tuple[Callable[[float, float], bool], float]]:
    """``[">", 0, "<=", 5]`` as (comparison, bound) pairs."""
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise PatternError(f"{path}: numeric takes one or two comparisons, like ['>', 0, '<', 5]")
    pairs = []
    for index in range(0, len(argument), 2):
        name, bound = argument[index], argument[index + 1]
        if name not in _COMPARISONS or not _is_number(bound):
            raise PatternError(f"{path}: {_text(argument)} is not a numeric comparison")
        pairs.append((_COMPARISONS[name], float(bound)))
    return pairs


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge would deliver ``event`` to a rule with ``pattern``.

    Every field the pattern names must match: a list matches when one of
    its values (or operators) matches the event's value, or one of the
    event's values when that is a list; an object matches the event's
    object of the same name (any element of a list of objects). A field
    the event lacks matches only ``{"exists": false}``. Values match
    exactly and by type: ``"1"`` is not ``1``, but ``1`` is ``1.0``.
    The whole pattern is checked first (:func:`check_pattern`), so an
    unsupported operator is an error whatever the event.
    """
    check_pattern(pattern)
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], value: Any) -> bool:
    for key, expected in pattern.items():
        actual = value.get(key, _MISSING) if isinstance(value, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            found = _match_nested(expected, actual)
        else:
            found = _match_field(expected, actual)
        if not found:
            return False
    return True


def _match_nested(pattern: Mapping[str, Any], actual: Any) -> bool:
    if isinstance(actual, list):
        objects = [item for item in actual if isinstance(item, Mapping)]
        if objects:
            return any(_match_object(pattern, item) for item in objects)
    # A field below a missing (or non-object) one is missing too.
    return _match_object(pattern, actual if isinstance(actual, Mapping) else {})


def _match_field(matchers: Sequence[Any], actual: Any) -> bool:
    present = actual is not _MISSING
    values = actual if isinstance(actual, list) else [actual]
    for matcher in matchers:
        if isinstance(matcher, Mapping) and "exists" in matcher:
            if matcher["exists"] is present:
                return True
        elif present and any(_match_value(matcher, value) for value in values):
            return True
    return False


def _match_value(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _equals(matcher, value)
    ((name, argument),) = matcher.items()
    if name == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if name == "suffix":
        return isinstance(value, str) and value.endswith(argument)
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(argument).lower()
    if name == "anything-but":
        if isinstance(argument, Mapping):
            return isinstance(value, str) and not _match_value(argument, value)
        excluded = argument if isinstance(argument, list) else [argument]
        return not any(_equals(item, value) for item in excluded)
    if name == "numeric":
        return _is_number(value) and all(
            compare(float(value), bound) for compare, bound in _comparisons(argument, "numeric")
        )
    return False  # pragma: no cover - check_pattern refused every other operator


def _equals(expected: Any, value: Any) -> bool:
    if expected is None or isinstance(expected, bool):
        return value is expected
    if isinstance(expected, str):
        return isinstance(value, str) and value == expected
    return _is_number(value) and float(value) == float(expected)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _is_number(value)


def _text(value: Any) -> str:
    return json.dumps(value, default=str)


# --- Events -------------------------------------------------------------------


class EventError(ValueError):
    """A body that is not an EventBridge event."""


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_from_body(
    body: bytes, *, now: datetime | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """The event EventBridge delivers for a posted ``body``; :class:`EventError` if malformed.

    The body is an event as targets receive it (``events/ecr-image-push.json``
    is one): ``source`` and ``detail-type`` are required, ``detail`` must be
    an object. ``version``, ``id``, ``time``, ``account``, ``region``,
    ``resources`` and ``detail`` are filled in where missing.
    """
    if len(body) > MAX_EVENT_BYTES:
        raise EventError("an EventBridge event is at most 256 KB")
    try:
        document = json.loads(body.decode("utf-8"))
    except ValueError:
        raise EventError("the body is not JSON: POST an EventBridge event") from None
    if not isinstance(document, dict):
        raise EventError("the body is not a JSON object: POST an EventBridge event")
    for key in ("source", "detail-type"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise EventError(f'the event has no "{key}" (a non-empty string)')
    if not isinstance(document.get("detail", {}), dict):
        raise EventError('the event\'s "detail" is not a JSON object')
    if not isinstance(document.get("resources", []), list):
        raise EventError('the event\'s "resources" is not a list')
    event: dict[str, Any] = {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": document["detail-type"],
        "source": document["source"],
        "account": LOCAL_ACCOUNT_ID,
        "time": _timestamp(now or datetime.now(UTC)),
        "region": LOCAL_REGION,
        "resources": [],
        "detail": {},
    }
    event.update(document)
    return event


def scheduled_event(
    source: str, resource_arn: str, *, now: datetime | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """The "Scheduled Event" a schedule delivers (as ``events/scheduled-reimport.json``).

    ``source`` is ``aws.scheduler`` for EventBridge Scheduler (``ScheduleV2``)
    and ``aws.events`` for a scheduled rule (``Schedule``); ``resources``
    names the schedule or rule.
    """
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": source,
        "account": LOCAL_ACCOUNT_ID,
        "time": _timestamp(now or datetime.now(UTC)),
        "region": LOCAL_REGION,
        "resources": [resource_arn],
        "detail": {},
    }


# --- The template's EventBridge events, resolved ------------------------------------

_INPUT_PATH = re.compile(r"\$(\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True)
class Trigger:
    """One enabled EventBridge event of a function, resolved against the created resources.

    A schedule has its ``expression`` and the ARN of the schedule (or
    scheduled rule) it would be; a rule has its ``pattern``. ``input``
    (JSON text) replaces the delivered event; ``input_path`` (``$.a.b``)
    delivers that part of it.
    """

    function_id: str
    name: str
    type: str
    expression: str | None = None
    schedule_arn: str | None = None
    pattern: Mapping[str, Any] | None = None
    input: str | None = None
    input_path: str | None = None

    @property
    def is_schedule(self) -> bool:
        return self.expression is not None

    def payload(self, event: Mapping[str, Any]) -> Any:
        """What the function receives when ``event`` fires this trigger."""
        if self.input is not None:
            return json.loads(self.input)
        if self.input_path is not None:
            selected: Any = event
            for part in self.input_path.split(".")[1:]:
                selected = selected.get(part) if isinstance(selected, Mapping) else None
            return selected
        return dict(event)

    def describe(self) -> str:
        """One line for the start banner."""
        what = self.expression if self.is_schedule else _text(self.pattern)
        return f"{self.function_id}.{self.name} ({self.type}): {what}"


def resolve_trigger(
    event: EventBridgeEvent, values: Intrinsics, stack_name: str = DEFAULT_STACK_NAME
) -> Trigger:
    """``event`` with its properties resolved; :class:`TemplateError` where it cannot run here."""
    where = f"{event.function_id}.{event.name}"
    props = values.resolve(dict(event.properties))
    if "InputTransformer" in props:
        raise TemplateError(f"{where}: InputTransformer is not emulated by the local server")
    text = props.get("Input")
    if text is not None:
        text = str(text)
        try:
            json.loads(text)
        except ValueError:
            raise TemplateError(f"{where}: Input is not JSON text") from None
    path = props.get("InputPath")
    if path is not None and not _INPUT_PATH.fullmatch(str(path)):
        raise TemplateError(f"{where}: InputPath {path!r} is not a simple $.a.b path")
    common: dict[str, Any] = {
        "function_id": event.function_id,
        "name": event.name,
        "type": event.type,
        "input": text,
        "input_path": None if path is None else str(path),
    }
    if event.is_schedule:
        key = "ScheduleExpression" if event.type == "ScheduleV2" else "Schedule"
        if not isinstance(props.get(key), str) or not props[key]:
            raise TemplateError(f"{where}: a {event.type} event needs a {key}")
    if event.type == "ScheduleV2":
        name = str(props.get("Name") or f"{event.function_id}{event.name}")
        group = str(props.get("GroupName") or "default")
        return Trigger(
            **common,
            expression=props["ScheduleExpression"],
            schedule_arn=f"arn:aws:scheduler:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:schedule/{group}/{name}",
        )
    if event.type == "Schedule":
        name = str(props.get("Name") or f"{stack_name}-{event.function_id}{event.name}")
        return Trigger(
            **common,
            expression=props["Schedule"],
            schedule_arn=f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{name}",
        )
    pattern = props.get("Pattern")
    if not isinstance(pattern, Mapping):
        raise TemplateError(f"{where}: a rule needs a Pattern object")
    return Trigger(**common, pattern=pattern)


# --- Invoking -------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One function run by a trigger: the event it got, and its result or error."""

    trigger: Trigger
    event: Any
    result: Any = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "function": self.trigger.function_id,
            "trigger": self.trigger.name,
            "type": self.trigger.type,
            "event": self.event,
        }
        if self.error is None:
            answer["result"] = self.result
        else:
            answer["error"] = self.error
        return answer


class LocalTriggers:
    """The ``/_local/`` routes: run schedules now, deliver posted events by pattern.

    ``triggers`` are the template's enabled schedule and rule events;
    ``runtimes`` run their functions by logical id.
    """

    def __init__(
        self,
        triggers: Sequence[Trigger],
        runtimes: Mapping[str, FunctionRuntime],
        *,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.triggers = list(triggers)
        self.runtimes = dict(runtimes)
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._clock = clock

    @classmethod
    def from_template(
        cls,
        template: Template,
        created: CreatedResources,
        *,
        concurrency: int = 4,
        stack_name: str = DEFAULT_STACK_NAME,
        loader: Callable[[FunctionSpec], Handler] = load_handler,
        **options: Any,
    ) -> LocalTriggers:
        """Triggers for every enabled EventBridge event of ``template``'s functions.

        The events' properties may refer to the ``created`` resources.
        """
        values = created.intrinsics()
        triggers: list[Trigger] = []
        runtimes: dict[str, FunctionRuntime] = {}
        for spec in template.functions():
            events = spec.schedule_events + spec.rule_events
            if not events:
                continue
            runtimes[spec.logical_id] = FunctionRuntime(
                spec, stack_name=stack_name, concurrency=concurrency, loader=loader
            )
            triggers.extend(resolve_trigger(event, values, stack_name) for event in events)
        return cls(triggers, runtimes, **options)

    @property
    def schedules(self) -> list[Trigger]:
        return [trigger for trigger in self.triggers if trigger.is_schedule]

    @property
    def rules(self) -> list[Trigger]:
        return [trigger for trigger in self.triggers if not trigger.is_schedule]

    def warm(self) -> None:
        """Load each function once now, so import errors show at start."""
        for runtime in self.runtimes.values():
            runtime.warm()

    # The routes -------------------------------------------------------------

    def handles(self, path: str) -> bool:
        """Whether ``path`` is one of the local routes (or below their prefix)."""
        return path == LOCAL_PREFIX or path.startswith(LOCAL_PREFIX + "/")

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer a request below :data:`LOCAL_PREFIX`."""
        path = request.path.rstrip("/")
        if path not in (SCHEDULE_PATH, EVENTS_PATH):
            return _status(
                404,
                "NotFound",
                f"{path} is not a local route (try {SCHEDULE_PATH} or {EVENTS_PATH})",
            )
        if request.method.upper() != "POST":
            return _status(
                405, "MethodNotAllowed", f"{path} takes POST", headers=[("Allow", "POST")]
            )
        if path == SCHEDULE_PATH:
            return _json(200, {"invoked": [i.to_json() for i in self.run_schedules()]})
        try:
            event = event_from_body(request.body, now=self._clock())
            invocations = self.publish(event)
        except (EventError, PatternError) as error:
            return _status(400, "BadRequest", str(error))
        return _json(200, {"event": event, "invoked": [i.to_json() for i in invocations]})

    # What they do ------------------------------------------------------------

    def run_schedules(self) -> list[Invocation]:
        """Invoke every schedule's function once, as its schedule would now."""
        invocations = []
        for trigger in self.schedules:
            assert trigger.schedule_arn is not None
            source = "aws.scheduler" if trigger.type == "ScheduleV2" else "aws.events"
            event = scheduled_event(source, trigger.schedule_arn, now=self._clock())
            invocations.append(self._invoke(trigger, trigger.payload(event)))
        return invocations

    def publish(self, event: Mapping[str, Any]) -> list[Invocation]:
        """Invoke the function of every rule whose pattern matches ``event``.

        Every pattern is evaluated before any function runs, so a
        :class:`PatternError` leaves nothing half done.
        """
        matched = []
        for trigger in self.rules:
            assert trigger.pattern is not None
            try:
                if matches(trigger.pattern, event):
                    matched.append(trigger)
            except PatternError as error:
                raise PatternError(f"{trigger.function_id}.{trigger.name}: {error}") from None
        return [self._invoke(trigger, trigger.payload(event)) for trigger in matched]

    def _invoke(self, trigger: Trigger, payload: Any) -> Invocation:
        runtime = self.runtimes[trigger.function_id]
        name = f"{trigger.function_id} <- {trigger.name} ({trigger.type}, on demand)"
        try:
            result = runtime.invoke(payload)
        except InvocationTimeoutError:
            error = f"timed out after {runtime.spec.timeout} s"
            self._log(f"{name}: {error}")
            return Invocation(trigger, payload, error=error)
        except Exception as exc:
            self._log(f"{name}: failed\n{traceback.format_exc().rstrip()}")
            return Invocation(trigger, payload, error=f"{type(exc).__name__}: {exc}")
        self._log(f"{name}: {_text(result)}")
        return Invocation(trigger, payload, result=result)


def _json(status: int, document: Any, headers: Sequence[tuple[str, str]] = ()) -> HttpResponse:
    body = json.dumps(document, default=str).encode("utf-8")
    return HttpResponse(status, [("Content-Type", "application/json"), *headers], body)


def _status(
    code: int, reason: str, message: str, headers: Sequence[tuple[str, str]] = ()
) -> HttpResponse:
    """A Kubernetes-style ``Status``, as the API's own errors are."""
    document = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return _json(code, document, headers)
