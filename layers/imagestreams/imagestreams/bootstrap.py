"""The composition root: the one place adapters are built and wired.

Everything is built lazily on first use and cached for the life of the
process (warm Lambda invocations reuse the connection pool, token cache and
clients); nothing happens at import time. The modules behind each part are
imported inside the function that builds it, too: a handler pays for boto3,
the importer and the stores on its first request, not in its cold-start
import, and the authorizer never pays for what it does not use. Tests call
:func:`reset` after changing the environment, or build their own objects
from the parts.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from imagestreams.config import Settings, load_settings

if TYPE_CHECKING:
    from imagestreams.adapters.secrets import SecretValue
    from imagestreams.adapters.tokens_store import SecretsManagerTokens
    from imagestreams.registries import RegistryRules
    from imagestreams.registry.client import RegistryClient
    from imagestreams.service import ImportService


@functools.cache
def settings() -> Settings:
    """The deployment's settings, read once."""
    return load_settings()


@functools.cache
def registry_rules() -> RegistryRules:
    """The deployment's allowed, blocked and insecure registries."""
    from imagestreams.registries import RegistryRules

    config = settings()
    return RegistryRules.from_settings(
        config.allowed_registries, config.blocked_registries, config.insecure_registries
    )


@functools.cache
def registry_client() -> RegistryClient:
    """One registry client (pool, tokens, endpoints) per process."""
    import urllib3

    from imagestreams.registry.addresses import AddressPolicy
    from imagestreams.registry.client import RegistryClient
    from imagestreams.registry.transport import RetryPolicy, Transport

    config = settings()
    # Insecure imports are an explicit choice of the import policy; a warning per
    # request would only bury the logs.
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    pool = urllib3.PoolManager(num_pools=64, maxsize=max(4, config.import_parallelism))
    policy = AddressPolicy.from_settings(config.allow_private_registries, config.private_cidrs())
    transport = Transport(
        pool,
        policy,
        connect_timeout=config.registry_connect_timeout,
        read_timeout=config.registry_read_timeout,
        retry=RetryPolicy(max_attempts=config.registry_max_attempts),
    )
    return RegistryClient(transport)


@functools.cache
def dynamodb() -> Any:
    """One DynamoDB client per process, built on first use."""
    from imagestreams.adapters.dynamo import default_client

    return default_client()


@functools.cache
def sqs() -> Any:
    """One SQS client per process, built on first use."""
    from imagestreams.adapters.queue import default_sqs_client

    return default_sqs_client()


@functools.cache
def import_service() -> ImportService:
    """The import use case wired with the deployment's adapters."""
    from imagestreams.adapters.cache import ImageCache
    from imagestreams.adapters.imports_store import ImportRecords
    from imagestreams.adapters.jobs_store import JobStore
    from imagestreams.adapters.queue import ImportQueue
    from imagestreams.adapters.secrets import SecretsManagerPullSecrets
    from imagestreams.adapters.streams_store import StreamStore
    from imagestreams.importer import Importer, ImportOptions
    from imagestreams.service import ImportService, ServiceOptions

    config = settings()
    cache = ImageCache(
        config.image_cache_table,
        ttl_seconds=config.image_cache_ttl_days * 86400,
        client_factory=dynamodb,
    )
    importer = Importer(
        registry_client(),
        ImportOptions(
            default_import_mode=config.default_import_mode,
            default_platform=config.default_platform,
            parallelism=config.import_parallelism,
            max_repository_tags=config.max_repository_tags,
            rules=registry_rules(),
        ),
        cache,
    )
    secrets = SecretsManagerPullSecrets(
        config.pull_secret_prefix, max_age=config.pull_secret_max_age
    )
    return ImportService(
        importer,
        secrets,
        StreamStore(config.streams_table, client_factory=dynamodb),
        ImportRecords(config.streams_table, client_factory=dynamodb),
        ServiceOptions(
            time_budget=config.import_time_budget,
            default_import_mode=config.default_import_mode,
            max_tag_history=config.max_tag_history,
            inline_fraction=config.inline_fraction,
            worker_time_budget=config.worker_time_budget,
            chunk_max_receives=config.chunk_max_receives,
            reimports_per_second=config.reimports_per_second,
        ),
        job_store=JobStore(config.streams_table, client_factory=dynamodb),
        # The worker has no queue to send to; without one, every import runs inline.
        queue=ImportQueue(config.import_queue_url, client_factory=sqs)
        if config.import_queue_url
        else None,
    )


@functools.cache
def webhook_secret() -> SecretValue:
    """The shared secret registry webhooks must present."""
    from imagestreams.adapters.secrets import SecretValue

    config = settings()
    name = config.webhook_secret or f"{config.pull_secret_prefix}/webhook-secret"
    return SecretValue(name, max_age=config.pull_secret_max_age)


@functools.cache
def token_store() -> SecretsManagerTokens:
    """The API token document, for the authorizer."""
    from imagestreams.adapters.tokens_store import SecretsManagerTokens

    config = settings()
    return SecretsManagerTokens(config.tokens_secret_name(), max_age=config.api_tokens_max_age)


def reset() -> None:
    """Forget everything built so far (tests, or a changed environment)."""
    for built in (
        settings,
        webhook_secret,
        token_store,
        registry_rules,
        registry_client,
        dynamodb,
        sqs,
        import_service,
    ):
        built.cache_clear()
