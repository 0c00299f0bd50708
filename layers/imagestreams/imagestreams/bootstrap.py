"""The composition root: the one place adapters are built and wired.

A :class:`Container` holds what one execution environment builds from its
settings: everything lazily, on first use, then kept for the life of the
environment (warm Lambda invocations reuse the connection pool, token cache
and clients); nothing happens at import time. The modules behind each part
are imported inside the method that builds it, too: a handler pays for
boto3, the importer and the stores on its first request, not in its
cold-start import, and the authorizer never pays for what it does not use.

Metrics go through one :class:`~imagestreams.telemetry.Telemetry` per
container, recording into Powertools Metrics (``observability``), which the
handlers flush: every part that measures gets it here.

Handlers are :func:`settled`: as the first invocation of a process starts
and once it is over, what the process has built so far is moved out of the
garbage collector's sight.

Handlers ask :func:`container` for the running environment's container: the
process's own, built from ``os.environ`` on first use, unless a caller (the
local server, running several functions in one process) activated another
with :func:`activated`. Tests call :func:`reset` after changing the
environment, or build a container from settings of their own.
"""

from __future__ import annotations

import contextvars
import functools
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from imagestreams.config import Settings, load_settings

if TYPE_CHECKING:
    from imagestreams.adapters.ecr_tokens import EcrAuthorizationTokens
    from imagestreams.adapters.imports_store import DynamoImportRecords
    from imagestreams.adapters.jobs_store import DynamoJobStore
    from imagestreams.adapters.queue import SqsImportQueue
    from imagestreams.adapters.secrets import SecretsManagerPullSecrets, SecretValue
    from imagestreams.adapters.streams_store import DynamoStreamStore
    from imagestreams.adapters.tokens_store import SecretsManagerTokens
    from imagestreams.ecr import RoleCredentials
    from imagestreams.imports.importer import Importer
    from imagestreams.registry.client import RegistryClient
    from imagestreams.registry.rules import RegistryRules
    from imagestreams.telemetry import Telemetry
    from imagestreams.usecases.common import Options
    from imagestreams.usecases.import_jobs import ImportJobs
    from imagestreams.usecases.queries import Queries
    from imagestreams.usecases.reimport import QueueReimports, Reimport
    from imagestreams.usecases.start import StartImport
    from imagestreams.usecases.stream_images import StreamImages
    from imagestreams.usecases.stream_tags import StreamTags
    from imagestreams.usecases.stream_writes import WriteStreams
    from imagestreams.usecases.tag_writes import WriteStreamTags
    from imagestreams.usecases.tagging import StreamTagger

T = TypeVar("T")


def _built_once(build: Callable[[Container], T]) -> Callable[[Container], T]:
    """A container method whose result is built on first use and kept (thread-safe)."""
    name = build.__name__

    @functools.wraps(build)
    def get(self: Container) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = build(self)
            value: T = self._built[name]
            return value

    return get


class Container:
    """What one execution environment builds from ``settings``, each part once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_environment(cls) -> Container:
        return cls(load_settings())

    def built(self) -> frozenset[str]:
        """The parts built so far (nothing until a handler first needs one)."""
        with self._lock:
            return frozenset(self._built)

    @_built_once
    def telemetry(self) -> Telemetry:
        """The metrics recorder, into the Powertools Metrics the handlers flush."""
        from imagestreams.observability import invocation_metrics
        from imagestreams.telemetry import Telemetry

        return Telemetry(invocation_metrics)

    @_built_once
    def registry_rules(self) -> RegistryRules:
        """The deployment's allowed, blocked and insecure registries."""
        from imagestreams.registry.rules import RegistryRules

        config = self.settings
        return RegistryRules.from_settings(
            config.allowed_registries, config.blocked_registries, config.insecure_registries
        )

    @_built_once
    def registry_client(self) -> RegistryClient:
        """One registry client (pool, tokens, endpoints) per environment."""
        import urllib3

        from imagestreams.registry.addresses import AddressPolicy
        from imagestreams.registry.client import RegistryClient
        from imagestreams.registry.transport import RetryPolicy, Transport

        config = self.settings
        # Insecure imports are an explicit choice of the import policy; a warning per
        # request would only bury the logs.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        # One pool per registry address, as large as the import's concurrency, and blocking:
        # no registry sees more than IMPORT_PARALLELISM connections from one invocation,
        # and every connection is reused rather than opened, used once and dropped.
        pool = urllib3.PoolManager(num_pools=64, maxsize=config.import_parallelism, block=True)
        policy = AddressPolicy.from_settings(
            config.allow_private_registries, config.private_cidrs()
        )
        transport = Transport(
            pool,
            policy,
            connect_timeout=config.registry_connect_timeout,
            read_timeout=config.registry_read_timeout,
            retry=RetryPolicy(max_attempts=config.registry_max_attempts),
            telemetry=self.telemetry(),
        )
        return RegistryClient(transport)

    @_built_once
    def dynamodb(self) -> Any:
        """One DynamoDB client per environment, built on first use."""
        from imagestreams.adapters.dynamo import default_client

        return default_client()

    @_built_once
    def sqs(self) -> Any:
        """One SQS client per environment, built on first use."""
        from imagestreams.adapters.queue import default_sqs_client

        return default_sqs_client()

    @_built_once
    def importer(self) -> Importer:
        """The import algorithm with the registry client and the image cache."""
        from imagestreams.adapters.cache import DynamoImageCache
        from imagestreams.imports.importer import Importer
        from imagestreams.imports.plan import ImportOptions

        config = self.settings
        cache = DynamoImageCache(
            config.image_cache_table,
            ttl_seconds=config.image_cache_ttl_days * 86400,
            client_factory=self.dynamodb,
        )
        return Importer(
            self.registry_client(),
            ImportOptions(
                default_import_mode=config.default_import_mode,
                default_platform=config.default_platform,
                parallelism=config.import_parallelism,
                max_repository_tags=config.max_repository_tags,
                rules=self.registry_rules(),
            ),
            cache,
            role=self.role_credentials(),
            endpoints=config.endpoints(),
            telemetry=self.telemetry(),
        )

    @_built_once
    def registry_tokens(self) -> EcrAuthorizationTokens:
        """ECR passwords of the function's role, kept for every warm invocation."""
        from imagestreams.adapters.ecr_tokens import EcrAuthorizationTokens

        return EcrAuthorizationTokens()

    @_built_once
    def role_credentials(self) -> RoleCredentials | None:
        """The role as the credential of allowed ECR registries; None when no account is."""
        from imagestreams.ecr import AccountPolicy, RoleCredentials

        policy = AccountPolicy.parse(self.settings.ecr_accounts)
        if not policy.enabled:
            return None
        return RoleCredentials(self.registry_tokens(), policy)

    @_built_once
    def pull_secrets(self) -> SecretsManagerPullSecrets:
        from imagestreams.adapters.secrets import SecretsManagerPullSecrets

        config = self.settings
        return SecretsManagerPullSecrets(
            config.pull_secret_prefix, max_age=config.pull_secret_max_age
        )

    @_built_once
    def stream_store(self) -> DynamoStreamStore:
        from imagestreams.adapters.streams_store import DynamoStreamStore

        return DynamoStreamStore(
            self.settings.streams_table,
            client_factory=self.dynamodb,
            settle=self.settings.watch_settle_seconds,
        )

    @_built_once
    def records(self) -> DynamoImportRecords:
        from imagestreams.adapters.imports_store import DynamoImportRecords

        return DynamoImportRecords(self.settings.streams_table, client_factory=self.dynamodb)

    @_built_once
    def job_store(self) -> DynamoJobStore:
        from imagestreams.adapters.jobs_store import DynamoJobStore

        return DynamoJobStore(self.settings.streams_table, client_factory=self.dynamodb)

    @_built_once
    def import_queue(self) -> SqsImportQueue:
        from imagestreams.adapters.queue import SqsImportQueue

        return SqsImportQueue(self.settings.import_queue_url, client_factory=self.sqs)

    @_built_once
    def options(self) -> Options:
        from imagestreams.usecases.common import Options

        config = self.settings
        return Options(
            time_budget=config.import_time_budget,
            default_import_mode=config.default_import_mode,
            max_tag_history=config.max_tag_history,
            inline_fraction=config.inline_fraction,
            worker_time_budget=config.worker_time_budget,
            chunk_max_receives=config.chunk_max_receives,
            reimports_per_second=config.reimports_per_second,
        )

    @_built_once
    def tagger(self) -> StreamTagger:
        from imagestreams.usecases.tagging import StreamTagger

        return StreamTagger(self.stream_store(), self.settings.max_tag_history)

    # --- use cases ---------------------------------------------------------

    @_built_once
    def start_import(self) -> StartImport:
        """POST imagestreamimports (the api function)."""
        from imagestreams.usecases.start import StartImport

        return StartImport(
            self.importer(),
            self.pull_secrets(),
            self.stream_store(),
            self.tagger(),
            self.records(),
            self.job_store(),
            self.import_queue(),
            self.options(),
            telemetry=self.telemetry(),
        )

    @_built_once
    def import_jobs(self) -> ImportJobs:
        """Chunks of import jobs (the worker)."""
        from imagestreams.usecases.import_jobs import ImportJobs

        return ImportJobs(
            self.importer(),
            self.pull_secrets(),
            self.stream_store(),
            self.tagger(),
            self.records(),
            self.job_store(),
            self.options(),
            telemetry=self.telemetry(),
        )

    @_built_once
    def reimport(self) -> Reimport:
        """Re-import messages (the worker)."""
        from imagestreams.usecases.reimport import Reimport

        return Reimport(
            self.importer(),
            self.pull_secrets(),
            self.stream_store(),
            self.tagger(),
            self.options(),
            telemetry=self.telemetry(),
        )

    @_built_once
    def queue_reimports(self) -> QueueReimports:
        """The schedule and registry pushes (the scheduler, the webhook route)."""
        from imagestreams.usecases.reimport import QueueReimports

        return QueueReimports(
            self.stream_store(), self.import_queue(), self.options(), self.telemetry()
        )

    @_built_once
    def queries(self) -> Queries:
        """Reads and deletes (the api function)."""
        from imagestreams.usecases.queries import Queries

        return Queries(self.stream_store(), self.records(), self.job_store())

    @_built_once
    def stream_tags(self) -> StreamTags:
        """ImageStreamTag reads and deletes (the api function)."""
        from imagestreams.usecases.stream_tags import StreamTags

        return StreamTags(self.stream_store())

    @_built_once
    def stream_images(self) -> StreamImages:
        """ImageStreamImage reads (the api function)."""
        from imagestreams.usecases.stream_images import StreamImages

        return StreamImages(self.stream_store())

    @_built_once
    def write_streams(self) -> WriteStreams:
        """Creates, updates and patches of ImageStreams (the api function)."""
        from imagestreams.usecases.stream_writes import WriteStreams

        return WriteStreams(
            self.importer(),
            self.pull_secrets(),
            self.stream_store(),
            self.tagger(),
            self.options(),
            self.registry_rules(),
            telemetry=self.telemetry(),
        )

    @_built_once
    def write_stream_tags(self) -> WriteStreamTags:
        """ImageStreamTag creates and updates, as spec tags of their streams (the api function)."""
        from imagestreams.usecases.tag_writes import WriteStreamTags

        return WriteStreamTags(self.write_streams(), self.stream_store())

    @_built_once
    def webhook_secret(self) -> SecretValue:
        """The shared secret registry webhooks must present."""
        from imagestreams.adapters.secrets import SecretValue

        config = self.settings
        name = config.webhook_secret or f"{config.pull_secret_prefix}/webhook-secret"
        return SecretValue(name, max_age=config.pull_secret_max_age)

    @_built_once
    def token_store(self) -> SecretsManagerTokens:
        """The API token document, for the authorizer."""
        from imagestreams.adapters.tokens_store import SecretsManagerTokens

        config = self.settings
        return SecretsManagerTokens(config.tokens_secret_name(), max_age=config.api_tokens_max_age)


_process: Container | None = None
_process_lock = threading.Lock()
_active: contextvars.ContextVar[Container | None] = contextvars.ContextVar(
    "imagestreams_container", default=None
)


def container() -> Container:
    """The running environment's container: the one activated, else the process's."""
    global _process
    active = _active.get()
    if active is not None:
        return active
    with _process_lock:
        if _process is None:
            _process = Container.from_environment()
        return _process


@contextmanager
def activated(chosen: Container) -> Iterator[Container]:
    """Make ``chosen`` what :func:`container` answers on this thread, for the block."""
    token = _active.set(chosen)
    try:
        yield chosen
    finally:
        _active.reset(token)


H = TypeVar("H", bound=Callable[..., Any])
_settled = False


def settled(handler: H) -> H:
    """``handler``, before and after whose first invocation in a process the heap is frozen.

    Modules, SDK service models, clients and the container live as long as
    the process; ``gc.freeze`` moves them out of the cyclic collector's
    sight, so the full passes it makes while an import allocates thousands
    of objects scan only what invocations made, not the whole heap again.
    The modules are frozen as the first invocation starts (its import, on a
    cold start, is spared their scans), and what it built to last (clients,
    the container) as it ends. Objects are still freed by reference
    counting as ever.
    """

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        global _settled
        if not _settled:
            gc.freeze()
        try:
            return handler(*args, **kwargs)
        finally:
            with _process_lock:
                if not _settled:
                    _settled = True
                    gc.freeze()

    return run  # type: ignore[return-value]


def reset() -> None:
    """Forget the process's container (tests, or a changed environment): a new process."""
    global _process, _settled
    with _process_lock:
        _process = None
        _settled = False
    # The AWS clients' session goes too, if one was made (its module imports boto3).
    sessions = sys.modules.get("imagestreams.adapters.aws")
    if sessions is not None:
        sessions.forget()
