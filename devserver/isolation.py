"""Powertools' per-invocation state kept per thread, as Lambda keeps it per process.

Powertools' event handler keeps the event and context being handled on its
``BaseRouter`` *class* (``BaseRouter.current_event = ...``), shared by every
resolver and router of the process. In Lambda a process serves one
invocation at a time, so that is safe there. The local server serves many
at once, in threads of one process: without this module, a request could
read another's event (its headers, its body, its path parameters), for
example when a watch answers after another request began and Powertools
decides from the newer request's ``Accept-Encoding`` whether to gzip the
watch's answer.

:func:`isolate_threads` replaces those class attributes by one value per
thread, both where Powertools reads them from an instance and where it
reads and writes them on the class. Each invocation runs on a thread of its
own, so each sees its own event, as in Lambda. Nothing else of Powertools
changes, and the deployed functions never import this module.
"""

from __future__ import annotations

import threading
from abc import ABCMeta
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

__all__ = ["isolate_threads"]

# The class attributes Powertools sets per invocation.
_PER_INVOCATION = ("current_event", "lambda_context")


class _PerThread:
    """A data descriptor whose value is one per thread, on the class and its instances."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._local = threading.local()

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        try:
            return self._local.value
        except AttributeError:
            raise AttributeError(self._name) from None

    def __set__(self, obj: object, value: Any) -> None:
        self._local.value = value


class _PerThreadRouterMeta(ABCMeta):
    """``BaseRouter``'s metaclass here: class-level reads and writes go to the descriptors."""


def isolate_threads() -> None:
    """Make ``BaseRouter``'s per-invocation attributes per thread (once per process)."""
    if type(BaseRouter) is _PerThreadRouterMeta:
        return
    for name in _PER_INVOCATION:
        descriptor = _PerThread(name)
        # Instances (resolvers, routers) find it in the class; ``BaseRouter.<name> = ...``
        # and ``BaseRouter.<name>`` find it on the metaclass, which data descriptors win.
        type.__setattr__(BaseRouter, name, descriptor)
        setattr(_PerThreadRouterMeta, name, descriptor)
    # A class's metaclass may be swapped for a subclass of the same layout.
    BaseRouter.__class__ = _PerThreadRouterMeta  # type: ignore[method-assign,assignment]
