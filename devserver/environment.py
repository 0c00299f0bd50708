"""Each function's settings and execution environments inside the one process that runs them all.

In Lambda every execution environment of a function is a process of its
own: it imports the handler module, builds its composition root from the
function's ``Environment.Variables``, and serves one invocation at a time.
The local server runs every function in one process; here an execution
environment (made by :func:`environment_loader`, pooled by
:class:`~devserver.server.FunctionRuntime`) is:

- a :class:`imagestreams.bootstrap.Container` built from the function's
  settings, activated around the import and each invocation, so the
  handler's ``bootstrap.container()`` answers it; and
- a copy of the handler module of its own (:func:`~devserver.server.load_handler`).
  Powertools keeps the event being handled on module-level objects (the
  api's ``APIGatewayRestResolver``, the worker's ``BatchProcessor``), so
  invocations running at once must not share a module. The modules the
  handler imports (``imagestreams`` among them) are the process's, shared.

A function's variables (:func:`function_variables`) are the template's,
with the local overrides, over the caller's environment for the names no
function sets (so ``IMPORT_TIME_BUDGET=1 make run`` tunes every function,
but a variable exported in the shell cannot stand in for one the template
gives some functions and omits for others).

Libraries that read ``os.environ`` themselves (Powertools, once per
process, when first imported; boto3) read the process environment, which
gets the variables every function sets alike (:func:`shared_variables`).
A variable only some functions set, and that is no setting, reaches
nothing here (:func:`unseen_variables` names them, for a warning).

Limit: the container is active on the invocation's thread. What a handler
builds from it (clients, stores, the import service) carries the
function's settings into any thread it hands them to, as the product's
thread pools do; a thread that asked ``bootstrap.container()`` itself would
get the process's container, built from the process environment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from devserver.metrics import invoked_as
from devserver.server import Handler, load_handler
from devserver.template import FunctionSpec
from imagestreams import bootstrap
from imagestreams.config import Settings, load_settings

_MISSING: Any = object()


class SettingsError(Exception):
    """A function's variables are not valid settings."""


def shared_variables(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The variables every function sets, and sets alike."""
    if not environments:
        return {}
    first, *rest = environments.values()
    return {
        name: value
        for name, value in first.items()
        if all(other.get(name, _MISSING) == value for other in rest)
    }


def function_variables(
    environments: Mapping[str, Mapping[str, str]], caller: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Each function's variables over ``caller``'s for the names no function sets."""
    owned = {name for variables in environments.values() for name in variables}
    inherited = {name: value for name, value in caller.items() if name not in owned}
    return {
        function_id: {**inherited, **variables} for function_id, variables in environments.items()
    }


def unseen_variables(environments: Mapping[str, Mapping[str, str]]) -> set[str]:
    """Variables some functions set but not alike, that are no setting: nothing reads them here."""
    settings = {field.alias or name for name, field in Settings.model_fields.items()}
    shared = shared_variables(environments)
    return {
        name
        for variables in environments.values()
        for name in variables
        if name not in shared and name not in settings
    }


def function_settings(variables: Mapping[str, Mapping[str, str]]) -> dict[str, Settings]:
    """Each function's settings, validated now (so a bad value stops the server at start)."""
    settings = {}
    for function_id, environment in variables.items():
        try:
            settings[function_id] = load_settings(environment)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
                for problem in error.errors(include_url=False)
            )
            raise SettingsError(f"{function_id}: invalid settings: {problems}") from error
    return settings


def environment_loader(
    settings: Mapping[str, Settings], load: Callable[[FunctionSpec], Handler] = load_handler
) -> Callable[[FunctionSpec], Handler]:
    """A handler loader for ``FunctionRuntime``: each call makes a new execution environment."""

    def new_environment(spec: FunctionSpec) -> Handler:
        container = bootstrap.Container(settings[spec.logical_id])
        with bootstrap.activated(container):
            handler = load(spec)

        def invoke(event: dict[str, Any], context: Any) -> Any:
            with bootstrap.activated(container), invoked_as(spec.logical_id):
                return handler(event, context)

        return invoke

    return new_environment
