"""Sample API Gateway events from ``events/``, and helpers to vary them.

The same files feed ``sam local invoke -e events/<name>.json``; tests load
them here and change only what a case is about (the body, the images, the
namespace), so every event keeps the shape API Gateway sends.

Every helper returns a new event; the loaded file and the argument are
never modified.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


def event_names() -> list[str]:
    """Names of every sample event (file names without ``.json``)."""
    return sorted(path.stem for path in EVENTS_DIR.glob("*.json"))


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """The event ``events/<name>.json``, with top-level keys replaced by ``changes``.

    ``body`` may be given as a dict or list (sent as JSON), ``str`` or ``bytes``
    (see :func:`with_body`); other keys are set as given.
    """
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if "body" in changes:
        event = with_body(event, changes.pop("body"))
    event.update(copy.deepcopy(changes))
    return event


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    """A copy of ``event`` whose body is ``body``.

    A dict or list is serialised as JSON; ``bytes`` are sent base64-encoded
    (``isBase64Encoded: true``), as API Gateway passes binary bodies; a
    ``str`` is sent as it is; ``None`` removes the body. ``Content-Length``
    follows the new body.
    """
    changed = copy.deepcopy(event)
    raw: bytes
    if body is None:
        changed["body"], changed["isBase64Encoded"], raw = None, False, b""
    elif isinstance(body, bytes):
        changed["body"] = base64.b64encode(body).decode("ascii")
        changed["isBase64Encoded"], raw = True, body
    elif isinstance(body, str):
        changed["body"], changed["isBase64Encoded"], raw = body, False, body.encode("utf-8")
    else:
        text = json.dumps(body)
        changed["body"], changed["isBase64Encoded"], raw = text, False, text.encode("utf-8")
    _set_header(changed, "Content-Length", str(len(raw)) if raw else None)
    return changed


def body_of(event: dict[str, Any]) -> Any:
    """The event's body, parsed as JSON."""
    body = event.get("body")
    if body is None:
        return None
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return json.loads(body)


def with_images(event: dict[str, Any], *names: str) -> dict[str, Any]:
    """A copy of an import event whose ``spec.images`` pull from ``names``.

    The first entries keep their other fields (``to``, ``importPolicy``,
    ``includeManifest``) and get the new ``from.name``; extra names are
    added as plain ``DockerImage`` entries. Typically points the samples
    at a registry on loopback.
    """
    document = body_of(event)
    images = document["spec"].get("images") or []
    updated = []
    for index, name in enumerate(names):
        entry = copy.deepcopy(images[index]) if index < len(images) else {}
        entry["from"] = {"kind": "DockerImage", "name": name}
        updated.append(entry)
    document["spec"]["images"] = updated
    return with_body(event, document)


def with_namespace(event: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A copy of an import event addressed to another namespace."""
    changed = copy.deepcopy(event)
    old = (changed.get("pathParameters") or {}).get("namespace")
    if old is None:
        raise ValueError("the event has no namespace path parameter")
    old_part, new_part = f"/namespaces/{old}/", f"/namespaces/{namespace}/"
    changed["path"] = changed["path"].replace(old_part, new_part, 1)
    changed["pathParameters"]["namespace"] = namespace
    context = changed.get("requestContext") or {}
    if "path" in context:
        context["path"] = context["path"].replace(old_part, new_part, 1)
    return changed


def with_name(event: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of an event for one object (``{name}``) addressed to another name."""
    changed = copy.deepcopy(event)
    old = (changed.get("pathParameters") or {}).get("name")
    if old is None:
        raise ValueError("the event has no name path parameter")
    changed["path"] = changed["path"].rsplit("/", 1)[0] + f"/{name}"
    changed["pathParameters"]["name"] = name
    context = changed.get("requestContext") or {}
    if "path" in context:
        context["path"] = context["path"].rsplit("/", 1)[0] + f"/{name}"
    return changed


def with_authorizer(
    event: dict[str, Any], namespaces: str | None, subject: str = "demo-user"
) -> dict[str, Any]:
    """A copy of an API event as the token authorizer let it through.

    ``namespaces`` is the context value the authorizer grants (``"demo"``,
    ``"demo,team-a"``, ``"*"``); None removes ``requestContext.authorizer``,
    as for a request no authorizer saw.
    """
    changed = copy.deepcopy(event)
    context = changed.setdefault("requestContext", {})
    if namespaces is None:
        context.pop("authorizer", None)
    else:
        context["authorizer"] = {
            "principalId": subject,
            "integrationLatency": 0,
            "subject": subject,
            "namespaces": namespaces,
        }
    return changed


def with_header(event: dict[str, Any], name: str, value: str | None) -> dict[str, Any]:
    """A copy of ``event`` with header ``name`` set to ``value`` (None removes it)."""
    changed = copy.deepcopy(event)
    _set_header(changed, name, value)
    return changed


def with_query(event: dict[str, Any], **parameters: list[str]) -> dict[str, Any]:
    """A copy of ``event`` with these query parameters (each with its values)."""
    changed = copy.deepcopy(event)
    changed["multiValueQueryStringParameters"] = parameters or None
    changed["queryStringParameters"] = {k: v[-1] for k, v in parameters.items()} or None
    return changed


def _set_header(event: dict[str, Any], name: str, value: str | None) -> None:
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if not headers:
            continue
        for existing in [k for k in headers if k.lower() == name.lower()]:
            del headers[existing]
        if value is not None:
            headers[name] = value if key == "headers" else [value]
