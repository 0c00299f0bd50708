"""The HTTP front and the function runtime of the local server.

:class:`FunctionRuntime` loads a function's handler by file path, as the
Lambda runtime does with ``CodeUri`` + ``Handler``, and invokes it with a
:class:`~devserver.gateway.LocalLambdaContext` under the function's timeout.
:class:`LocalGateway` routes a request, builds the event, invokes and
converts the result (or renders a gateway error). :class:`DevServer` is the
threading HTTP server that feeds it.

Each loaded copy of a handler module serves one invocation at a time, like
one Lambda execution environment; up to ``concurrency`` copies are loaded
on demand so slow requests do not queue behind each other.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import itertools
import queue
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

from devserver.gateway import (
    MAX_PAYLOAD_BYTES,
    EventOptions,
    HttpRequest,
    HttpResponse,
    LocalLambdaContext,
    MalformedResultError,
    RouteTable,
    build_event,
    gateway_response,
    parse_result,
)
from devserver.template import DEFAULT_STACK_NAME, FunctionSpec, GatewayResponse, Template

Handler = Callable[[dict[str, Any], Any], Any]

_module_counter = itertools.count()


class HandlerLoadError(Exception):
    """A function's handler module could not be imported."""


class InvocationTimeoutError(Exception):
    """The function ran past its timeout."""


def load_handler(spec: FunctionSpec) -> Handler:
    """Import ``spec``'s handler module from its file and return the handler.

    The module gets a unique name, so each call yields an independent copy
    (its own module globals, as a separate execution environment has), and
    functions whose modules share a name (``app``) do not clash. Like the
    Lambda runtime, the code directory is put on ``sys.path`` for the
    module's own imports.
    """
    path = spec.module_file
    if not path.is_file():
        raise HandlerLoadError(f"{spec.logical_id}: {path} does not exist")
    code_dir = str(spec.code_uri)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    name = f"_devserver_{spec.logical_id}_{next(_module_counter)}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise HandlerLoadError(f"{spec.logical_id}: cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
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

        Past the timeout the caller gets :class:`InvocationTimeoutError` at
        once; the handler's thread (a daemon: it cannot be killed, and must
        not hold up the exit) finishes in the background, keeping its slot
        until then.
        """
        self._slots.acquire()
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
            return future.result(timeout=self.spec.timeout)
        except concurrent.futures.TimeoutError:
            raise InvocationTimeoutError(self.spec.logical_id) from None


class LocalGateway:
    """A request in, a response out: API Gateway in front of the runtimes."""

    def __init__(
        self,
        routes: RouteTable,
        runtimes: Mapping[str, FunctionRuntime],
        options: EventOptions,
        responses: Mapping[str, GatewayResponse],
        *,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.routes = routes
        self.runtimes = runtimes
        self.options = options
        self.responses = responses
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
        """Build the gateway for every function with API events in ``template``."""
        functions = [spec for spec in template.functions() if spec.routes]
        runtimes = {
            spec.logical_id: FunctionRuntime(
                spec, stack_name=stack_name, concurrency=concurrency, loader=loader
            )
            for spec in functions
        }
        options = EventOptions(
            stage=template.stage_name(), binary_media_types=template.binary_media_types()
        )
        routes = RouteTable([route for spec in functions for route in spec.routes])
        return cls(routes, runtimes, options, template.gateway_responses())

    def warm(self) -> None:
        for runtime in self.runtimes.values():
            runtime.warm()

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
        event = build_event(request, match, self.options, request_id=request_id)
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
        except MalformedResultError as error:
            self._log(f"{runtime.function_name}: malformed proxy response: {error}")
            return gateway_response(
                self.responses, "DEFAULT_5XX", "Internal server error", request_id, status=502
            )


class DevServer(ThreadingHTTPServer):
    """A threading HTTP server whose requests go to a :class:`LocalGateway`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], gateway: LocalGateway) -> None:
        self.gateway = gateway
        super().__init__(address, _RequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = host if isinstance(host, str) else host.decode()
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}"


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
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: :meth:`_serve` logs each request once, with its duration."""

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def version_string(self) -> str:
        return "devserver"
