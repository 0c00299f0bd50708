"""The HTTP front and the function runtime of the local server.

:class:`FunctionRuntime` loads a function's handler by file path, as the
Lambda runtime does with ``CodeUri`` + ``Handler``, and invokes it with a
:class:`~devserver.gateway.LocalLambdaContext` under the function's timeout.
:class:`LocalGateway` routes a request, asks the route's authorizer
(:class:`LocalAuthorizer`, API Gateway's Lambda TOKEN authorizer with its
cache), builds the event, invokes and converts the result (or renders a
gateway error). :class:`DevServer` is the threading HTTP server that feeds it,
over plain HTTP or, given a TLS context, over HTTPS.

Each execution environment the runtime's loader makes (a copy of the
handler module; :mod:`devserver.environment` adds the function's
composition root) serves one invocation at a time, as in Lambda; up to
``concurrency`` of them are made on demand so slow requests do not queue
behind each other; beyond that, an invocation waits for a free one within
its timeout.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import itertools
import queue
import re
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from devserver.gateway import (
    EXPLICIT_DENY_MESSAGE,
    IMPLICIT_DENY_MESSAGE,
    MAX_PAYLOAD_BYTES,
    AuthorizerResult,
    EventOptions,
    HttpRequest,
    HttpResponse,
    LocalLambdaContext,
    MalformedResultError,
    PolicyDecision,
    ResponseTooLargeError,
    RouteTable,
    authorizer_context,
    build_event,
    evaluate_policy,
    gateway_response,
    method_arn,
    parse_authorizer_result,
    parse_result,
    token_event,
)
from devserver.isolation import isolate_threads
from devserver.template import (
    DEFAULT_STACK_NAME,
    AuthorizerSpec,
    FunctionSpec,
    GatewayResponse,
    Template,
    TemplateError,
)

Handler = Callable[[dict[str, Any], Any], Any]

_module_counter = itertools.count()


class HandlerLoadError(Exception):
    """A function's handler module could not be imported."""


class InvocationTimeoutError(Exception):
    """The function ran past its timeout."""


def load_module(path: Path, code_dir: Path, name: str) -> ModuleType:
    """Import the file ``path`` as the module ``name``, ``code_dir`` being its code root.

    Like the Lambda runtime, this puts the code directory (a function's
    ``CodeUri``) on ``sys.path``, so the module's imports of its siblings
    (the api's ``routes``) resolve there. ``path`` runs afresh on every call;
    the siblings it imports are ordinary modules, imported once per process.
    A module whose import fails is not left in ``sys.modules``.
    """
    code = str(code_dir)
    if code not in sys.path:
        sys.path.insert(0, code)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}", name=name, path=str(path))
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_handler(spec: FunctionSpec) -> Handler:
    """Import ``spec``'s handler module from its file and return the handler.

    The module gets a unique name, so each call yields an independent copy
    (its own module globals, as a separate execution environment has), and
    functions whose modules share a name (``app``) do not clash. A copy per
    environment is needed: Powertools' resolvers and batch processors keep
    the event being handled on module-level objects, so two invocations at
    once on one module would see each other's; and what its event handler
    keeps on its ``BaseRouter`` class is made per thread
    (:func:`~devserver.isolation.isolate_threads`). The module is imported
    by :func:`load_module`, with the code directory on ``sys.path``.
    """
    isolate_threads()
    path = spec.module_file
    if not path.is_file():
        raise HandlerLoadError(f"{spec.logical_id}: {path} does not exist")
    name = f"_devserver_{spec.logical_id}_{next(_module_counter)}"
    try:
        module = load_module(path, spec.code_uri, name)
    except Exception as error:
        detail = "".join(traceback.format_exception(error)).rstrip()
        raise HandlerLoadError(f"{spec.logical_id}: importing {path} failed:\n{detail}") from error
    handler = getattr(module, spec.handler_name, None)
    if not callable(handler):
        raise HandlerLoadError(f"{spec.logical_id}: {spec.handler} is not a function")
    return handler  # type: ignore[no-any-return]


class FunctionRuntime:
    """Invokes one function, emulating Lambda's timeout and context."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        concurrency: int = 4,
        loader: Callable[[FunctionSpec], Handler] = load_handler,
    ) -> None:
        self.spec = spec
        self.function_name = f"{stack_name}-{spec.logical_id}"
        self._loader = loader
        self._idle: queue.SimpleQueue[Handler] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(concurrency)

    def warm(self) -> None:
        """Load one copy now, so import errors show at start, not at the first request."""
        self._idle.put(self._loader(self.spec))

    def _acquire(self) -> Handler:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._loader(self.spec)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the handler on ``event``; raises what it raises, or on timeout.

        When all ``concurrency`` slots are busy the call waits for one; the
        wait counts towards the timeout, as the caller (API Gateway's
        integration timeout) would count it. Past the timeout the caller
        gets :class:`InvocationTimeoutError` at once; the handler's thread
        (a daemon: it cannot be killed, and must not hold up the exit)
        finishes in the background, keeping its slot until then.
        """
        deadline = time.monotonic() + self.spec.timeout
        if not self._slots.acquire(timeout=self.spec.timeout):
            raise InvocationTimeoutError(self.spec.logical_id)
        context = LocalLambdaContext(
            function_name=self.function_name,
            memory_limit_in_mb=self.spec.memory_size,
            timeout_seconds=self.spec.timeout,
        )
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                handler = self._acquire()
            except BaseException as error:
                self._slots.release()
                future.set_exception(error)
                return
            try:
                future.set_result(handler(event, context))
            except BaseException as error:
                future.set_exception(error)
            finally:
                self._idle.put(handler)
                self._slots.release()

        threading.Thread(target=run, name=self.function_name, daemon=True).start()
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            raise InvocationTimeoutError(self.spec.logical_id) from None


# The error message that makes API Gateway answer 401 instead of a 500.
UNAUTHORIZED_MESSAGE = "Unauthorized"
# Entries an authorizer cache keeps at most (expired ones go first).
MAX_CACHED_TOKENS = 1024


@dataclass(frozen=True)
class Authorization:
    """An authorizer's verdict on one request.

    ``context`` (``requestContext.authorizer``) when the request may go on;
    otherwise the gateway response type and message to answer with.
    """

    context: Mapping[str, object] | None = None
    response_type: str = ""
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.context is not None


class LocalAuthorizer:
    """API Gateway's side of one Lambda TOKEN authorizer.

    A request without the identity header (or with an empty one, or one
    that fails the validation expression) is refused with 401 before the
    function runs. Otherwise the function gets a TOKEN event, unless an
    answer for the same header value is cached (``spec.ttl`` seconds; only
    policies are cached, never a refusal or an error); the returned policy
    is evaluated against the request's method ARN. ``Unauthorized`` from
    the function is 401, a policy without a matching ``Allow`` 403, and any
    other failure (an error, a timeout, a malformed answer) 500.

    The token is never logged.
    """

    def __init__(
        self,
        spec: AuthorizerSpec,
        runtime: FunctionRuntime,
        *,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.runtime = runtime
        self._clock = clock
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._validation = (
            re.compile(spec.validation_expression) if spec.validation_expression else None
        )
        self._cache: dict[str, tuple[float, AuthorizerResult]] = {}
        self._lock = threading.Lock()

    def authorize(self, request: HttpRequest, arn: str) -> Authorization:
        """The verdict on ``request``, which calls ``arn``."""
        token = request.header(self.spec.header)
        if token is None or not token.strip():
            return Authorization(response_type="UNAUTHORIZED", message=UNAUTHORIZED_MESSAGE)
        if self._validation is not None and not self._validation.fullmatch(token):
            return Authorization(response_type="UNAUTHORIZED", message=UNAUTHORIZED_MESSAGE)
        latency_ms = 0
        result = self._cached(token)
        if result is None:
            started = time.monotonic()
            answer = self._invoke(token, arn)
            if isinstance(answer, Authorization):
                return answer
            result = answer
            latency_ms = int((time.monotonic() - started) * 1000)
            self._remember(token, result)
        decision = evaluate_policy(result.statements, arn)
        if decision is PolicyDecision.ALLOW:
            return Authorization(context=authorizer_context(result, latency_ms))
        message = (
            EXPLICIT_DENY_MESSAGE
            if decision is PolicyDecision.EXPLICIT_DENY
            else IMPLICIT_DENY_MESSAGE
        )
        return Authorization(response_type="ACCESS_DENIED", message=message)

    def _invoke(self, token: str, arn: str) -> AuthorizerResult | Authorization:
        name = self.runtime.function_name
        failure = Authorization(
            response_type="AUTHORIZER_CONFIGURATION_ERROR", message="Internal server error"
        )
        try:
            raw = self.runtime.invoke(token_event(token, arn))
        except InvocationTimeoutError:
            self._log(f"{name}: timed out after {self.runtime.spec.timeout} s")
            return failure
        except Exception as error:
            if str(error) == UNAUTHORIZED_MESSAGE:
                return Authorization(response_type="UNAUTHORIZED", message=UNAUTHORIZED_MESSAGE)
            # The type only: an authorizer's error message could quote the token.
            self._log(f"{name}: authorizer failed ({type(error).__name__})")
            return failure
        try:
            return parse_authorizer_result(raw)
        except MalformedResultError as error:
            self._log(f"{name}: malformed authorizer result: {error}")
            return failure

    def _cached(self, token: str) -> AuthorizerResult | None:
        with self._lock:
            entry = self._cache.get(token)
            if entry is None:
                return None
            expires, result = entry
            if self._clock() < expires:
                return result
            del self._cache[token]
            return None

    def _remember(self, token: str, result: AuthorizerResult) -> None:
        if self.spec.ttl <= 0:
            return
        with self._lock:
            now = self._clock()
            if len(self._cache) >= MAX_CACHED_TOKENS:
                for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
                    del self._cache[key]
            while len(self._cache) >= MAX_CACHED_TOKENS:
                del self._cache[next(iter(self._cache))]
            self._cache[token] = (now + self.spec.ttl, result)


class LocalGateway:
    """A request in, a response out: API Gateway in front of the runtimes."""

    def __init__(
        self,
        routes: RouteTable,
        runtimes: Mapping[str, FunctionRuntime],
        options: EventOptions,
        responses: Mapping[str, GatewayResponse],
        *,
        authorizers: Mapping[str, LocalAuthorizer] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.routes = routes
        self.runtimes = runtimes
        self.options = options
        self.responses = responses
        self.authorizers = dict(authorizers or {})
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    @classmethod
    def from_template(
        cls,
        template: Template,
        *,
        concurrency: int = 4,
        stack_name: str = DEFAULT_STACK_NAME,
        loader: Callable[[FunctionSpec], Handler] = load_handler,
    ) -> LocalGateway:
        """Build the gateway for every function with API events in ``template``.

        Functions that authorize the API's routes run beside them.
        """
        specs = {spec.logical_id: spec for spec in template.functions()}
        functions = [spec for spec in specs.values() if spec.routes]
        runtimes = {
            spec.logical_id: FunctionRuntime(
                spec, stack_name=stack_name, concurrency=concurrency, loader=loader
            )
            for spec in functions
        }
        authorizers = {}
        for name, authorizer in template.authorizers().items():
            if authorizer.function_id not in specs:
                raise TemplateError(
                    f"authorizer {name}: {authorizer.function_id} is not a function"
                )
            runtime = FunctionRuntime(
                specs[authorizer.function_id],
                stack_name=stack_name,
                concurrency=concurrency,
                loader=loader,
            )
            authorizers[name] = LocalAuthorizer(authorizer, runtime)
        routes = [route for spec in functions for route in spec.routes]
        for route in routes:
            if route.authorizer is not None and route.authorizer not in authorizers:
                raise TemplateError(
                    f"{route.method} {route.path}: unknown authorizer {route.authorizer}"
                )
        options = EventOptions(
            stage=template.stage_name(), binary_media_types=template.binary_media_types()
        )
        return cls(
            RouteTable(routes),
            runtimes,
            options,
            template.gateway_responses(),
            authorizers=authorizers,
        )

    def warm(self) -> None:
        for runtime in self.runtimes.values():
            runtime.warm()
        for authorizer in self.authorizers.values():
            authorizer.runtime.warm()

    def error(self, response_type: str, message: str, *, status: int | None = None) -> HttpResponse:
        """One of API Gateway's own error responses."""
        request_id = str(uuid.uuid4())
        return gateway_response(self.responses, response_type, message, request_id, status=status)

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Route, invoke and answer one request."""
        request_id = str(uuid.uuid4())
        match = self.routes.match(request.method, request.path)
        if match is None:
            return gateway_response(
                self.responses,
                "MISSING_AUTHENTICATION_TOKEN",
                "Missing Authentication Token",
                request_id,
            )
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return gateway_response(
                self.responses, "REQUEST_TOO_LARGE", "Request Too Long", request_id
            )
        context = None
        if match.route.authorizer is not None:
            arn = method_arn(self.options, request.method, request.path)
            verdict = self.authorizers[match.route.authorizer].authorize(request, arn)
            if not verdict.allowed:
                return gateway_response(
                    self.responses, verdict.response_type, verdict.message, request_id
                )
            context = verdict.context
        event = build_event(request, match, self.options, request_id=request_id, authorizer=context)
        runtime = self.runtimes[match.route.function_id]
        try:
            result = runtime.invoke(event)
        except InvocationTimeoutError:
            self._log(f"{runtime.function_name}: timed out after {runtime.spec.timeout} s")
            return gateway_response(
                self.responses, "INTEGRATION_TIMEOUT", "Endpoint request timed out", request_id
            )
        except Exception:
            self._log(f"{runtime.function_name}: unhandled error\n{traceback.format_exc()}")
            return gateway_response(
                self.responses, "DEFAULT_5XX", "Internal server error", request_id, status=502
            )
        try:
            return parse_result(result, request_id)
        except ResponseTooLargeError as error:
            self._log(f"{runtime.function_name}: {error}; answered 502, as API Gateway does")
            return gateway_response(
                self.responses, "DEFAULT_5XX", str(error), request_id, status=502
            )
        except MalformedResultError as error:
            self._log(f"{runtime.function_name}: malformed proxy response: {error}")
            return gateway_response(
                self.responses, "DEFAULT_5XX", "Internal server error", request_id, status=502
            )


class LocalRoutes(Protocol):
    """Routes the local server answers itself, before API Gateway's routing."""

    def handles(self, path: str) -> bool:
        """Whether requests for ``path`` are these routes' (and never the gateway's)."""
        ...

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The answer to a request :meth:`handles` claimed."""
        ...


# Seconds a client may take to complete the TLS handshake.
HANDSHAKE_TIMEOUT = 10.0


class DevServer(ThreadingHTTPServer):
    """A threading HTTP server whose requests go to a :class:`LocalGateway`.

    Requests for ``local_routes`` (the local server's own routes, such as
    :mod:`devserver.triggers`) go there instead, without any authorizer.
    With ``tls``, connections are HTTPS: each is wrapped in the request's
    own thread, so a client slow to finish its handshake holds up no other.
    """

    # A burst of clients waits in the listen backlog, then for a function's
    # slot (FunctionRuntime.invoke), rather than being dropped: socketserver's
    # backlog of 5 lost a third of 100 concurrent connections.
    request_queue_size = 1024
    # Request threads must not hold up the exit (nor pile up to be joined).
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        gateway: LocalGateway,
        local_routes: LocalRoutes | None = None,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.gateway = gateway
        self.local_routes = local_routes
        self.tls = tls
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _RequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = host if isinstance(host, str) else host.decode()
        if ":" in shown:
            shown = f"[{shown}]"
        return f"{'https' if self.tls else 'http'}://{shown}:{port}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            secure = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            # Not TLS (plain HTTP on this port), or a client that gave up.
            return
        try:
            secure.settimeout(None)
            super().finish_request(secure, client_address)
        finally:
            self.shutdown_request(secure)


class _BodyError(Exception):
    def __init__(self, response_type: str, message: str) -> None:
        super().__init__(message)
        self.response_type = response_type
        self.message = message


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DevServer

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.monotonic()
        gateway = self.server.gateway
        try:
            body = self._read_body()
        except _BodyError as error:
            # The rest of the body is unread: this connection cannot be reused.
            self.close_connection = True
            response = gateway.error(error.response_type, error.message)
        else:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
            )
            local = self.server.local_routes
            if local is not None and local.handles(request.path):
                response = local.handle(request)
            else:
                response = gateway.handle(request)
        self._write(response)
        elapsed = (time.monotonic() - started) * 1000
        self.log_message('"%s %s" %d %.0f ms', self.command, self.path, response.status, elapsed)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BodyError("BAD_REQUEST_BODY", "Invalid Content-Length") from None
        if length < 0:
            raise _BodyError("BAD_REQUEST_BODY", "Invalid Content-Length")
        if length > MAX_PAYLOAD_BYTES:
            raise _BodyError("REQUEST_TOO_LARGE", "Request Too Long")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BodyError("BAD_REQUEST_BODY", "Invalid chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_PAYLOAD_BYTES:
                raise _BodyError("REQUEST_TOO_LARGE", "Request Too Long")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _write(self, response: HttpResponse) -> None:
        # 1xx, 204 and 304 answers never carry a body, whatever a function returned.
        bodiless = response.status < 200 or response.status in (204, 304)
        self.send_response(response.status)
        for name, value in response.headers:
            if not (bodiless and name.lower() == "content-length"):
                self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and not bodiless:
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: :meth:`_serve` logs each request once, with its duration."""

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def version_string(self) -> str:
        return "devserver"
