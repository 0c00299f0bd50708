"""Each function's own environment inside the one process that runs them all.

In Lambda every function runs in processes of its own, with its own
``Environment.Variables``; the local server runs every function in one
process. Two things keep one function's settings out of another's:

- :class:`FunctionEnvironments` stands in for ``os.environ``. A thread
  running a function's code (its import, its invocations) sees that
  function's variables and none that only other functions define; every
  other thread sees none of the variables the functions disagree on.
  Variables every function sets alike stay in the real process environment.
- :func:`isolated_loader` loads a handler with that function's environment
  active, and with private copies of the given modules (the composition
  root, whose cached settings and clients belong to one execution
  environment), so what one function built at its first call is never what
  another function uses.

Limits: threads a handler starts itself see no function's variables (they
are not the function's thread), and the C-level environment that child
processes inherit is the server's own.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from devserver.server import Handler, load_handler
from devserver.template import FunctionSpec

# Module loading swaps entries of sys.modules: one load at a time.
_load_lock = threading.RLock()
_MISSING: Any = object()


def split_environments(
    environments: Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The variables every function sets alike, and each function's others."""
    shared: dict[str, str] = {}
    if environments:
        first, *rest = environments.values()
        shared = {
            name: value
            for name, value in first.items()
            if all(other.get(name, _MISSING) == value for other in rest)
        }
    own = {
        function_id: {name: value for name, value in variables.items() if name not in shared}
        for function_id, variables in environments.items()
    }
    return shared, own


class FunctionEnvironments(MutableMapping[str, str]):
    """``os.environ`` as the function whose code runs on the current thread sees it.

    ``process`` is the real environment; ``functions`` maps each function to
    the variables only it has (see :func:`split_environments`). A name that
    any function owns is hidden from the process view, so a variable
    exported in the shell cannot stand in for one the template omits.
    Writes from a function's thread to a name it owns stay with that
    function; other writes go to the process environment.
    """

    def __init__(
        self, process: MutableMapping[str, str], functions: Mapping[str, Mapping[str, str]]
    ) -> None:
        self._process = process
        self._functions = {fid: dict(variables) for fid, variables in functions.items()}
        self._owned = frozenset(name for variables in functions.values() for name in variables)
        self._current = threading.local()
        self._previous: MutableMapping[str, str] | None = None

    # Which function's view -------------------------------------------------

    @property
    def current(self) -> str | None:
        """The function whose code runs on this thread, if any."""
        function_id: str | None = getattr(self._current, "function_id", None)
        return function_id

    @contextmanager
    def activate(self, function_id: str) -> Iterator[None]:
        """Run the block (on this thread) with ``function_id``'s environment."""
        if function_id not in self._functions:
            raise KeyError(f"{function_id} has no environment here")
        previous = self.current
        self._current.function_id = function_id
        try:
            yield
        finally:
            self._current.function_id = previous

    def _own(self) -> dict[str, str] | None:
        function_id = self.current
        return None if function_id is None else self._functions[function_id]

    # The mapping -----------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        own = self._own()
        if own is not None and name in own:
            return own[name]
        if name in self._owned:
            raise KeyError(name)
        return self._process[name]

    def __setitem__(self, name: str, value: str) -> None:
        own = self._own()
        if own is not None and (name in own or name in self._owned):
            own[name] = value
        else:
            self._process[name] = value

    def __delitem__(self, name: str) -> None:
        own = self._own()
        if own is not None and name in own:
            del own[name]
        elif name in self._owned:
            raise KeyError(name)
        else:
            del self._process[name]

    def __iter__(self) -> Iterator[str]:
        own = self._own() or {}
        yield from (name for name in list(self._process) if name not in self._owned)
        yield from list(own)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        """A plain dict of this thread's view, as ``os.environ.copy()`` gives."""
        return dict(self)

    # Standing in for os.environ ----------------------------------------------

    def install(self) -> None:
        """Become ``os.environ`` (and what ``os.getenv`` reads)."""
        if self._previous is None:
            self._previous = os.environ
            os.environ = self  # type: ignore[assignment]  # noqa: B003 - a view, not a reset

    def uninstall(self) -> None:
        """Give ``os.environ`` back."""
        if self._previous is not None:
            os.environ = self._previous  # type: ignore[assignment]  # noqa: B003
            self._previous = None


@contextmanager
def private_modules(names: Sequence[str]) -> Iterator[None]:
    """Within the block, importing ``names`` makes new copies; afterwards the old ones are back.

    The copies live on only in the modules that imported them during the
    block (a handler's ``from package import module``).
    """
    saved: dict[str, tuple[ModuleType | None, Any]] = {}
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        saved[name] = (sys.modules.pop(name, None), getattr(parent, child, _MISSING))
        if parent is not None and hasattr(parent, child):
            delattr(parent, child)
    try:
        yield
    finally:
        for name, (module, attribute) in saved.items():
            parent_name, _, child = name.rpartition(".")
            sys.modules.pop(name, None)
            if module is not None:
                sys.modules[name] = module
            parent = sys.modules.get(parent_name) if parent_name else None
            if parent is None:
                continue
            if attribute is _MISSING:
                if hasattr(parent, child):
                    delattr(parent, child)
            else:
                setattr(parent, child, attribute)


def isolated_loader(
    environments: FunctionEnvironments,
    private: Sequence[str] = (),
    load: Callable[[FunctionSpec], Handler] = load_handler,
) -> Callable[[FunctionSpec], Handler]:
    """A handler loader for ``FunctionRuntime`` that keeps functions apart.

    Each copy is imported with its function's environment active and with
    its own copies of the ``private`` modules; each call runs with that
    environment active.
    """

    def load_isolated(spec: FunctionSpec) -> Handler:
        with _load_lock, environments.activate(spec.logical_id), private_modules(private):
            handler = load(spec)

        def invoke(event: dict[str, Any], context: Any) -> Any:
            with environments.activate(spec.logical_id):
                return handler(event, context)

        return invoke

    return load_isolated
