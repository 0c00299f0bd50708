"""Deployment settings, read once from the environment.

Nothing else in the package reads ``os.environ``: entry points call
:func:`load_settings` (through ``bootstrap``) and pass the model on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Every knob of a deployment, with the defaults a deployed stack uses."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    image_cache_table: str = Field("", alias="IMAGE_CACHE_TABLE")
    image_cache_ttl_days: int = Field(30, ge=1, alias="IMAGE_CACHE_TTL_DAYS")
    streams_table: str = Field("", alias="STREAMS_TABLE")
    # How long after a write every reader of the streams table sees it; a
    # watch reads no closer to now (moto-backed tests and servers: 0).
    watch_settle_seconds: float = Field(1.0, ge=0, le=10, alias="WATCH_SETTLE_SECONDS")
    max_repository_tags: int = Field(1000, ge=1, alias="MAX_REPOSITORY_TAGS")
    max_tag_history: int = Field(100, ge=1, alias="MAX_TAG_HISTORY")
    pull_secret_prefix: str = Field("imagestreams", alias="PULL_SECRET_PREFIX")
    pull_secret_max_age: int = Field(60, alias="PULL_SECRET_MAX_AGE")

    default_import_mode: Literal["Legacy", "PreserveOriginal"] = Field(
        "Legacy", alias="DEFAULT_IMPORT_MODE"
    )
    default_platform: str = Field("linux/amd64", alias="DEFAULT_PLATFORM")

    # Registry safety: loopback, link-local and private addresses are refused
    # unless allowed here (the local development server allows them).
    allow_private_registries: bool = Field(False, alias="ALLOW_PRIVATE_REGISTRIES")
    allowed_private_cidrs: str = Field("", alias="ALLOWED_PRIVATE_CIDRS")
    # Registry lists (comma-separated host[:port] globs, as OpenShift's
    # allowedRegistriesForImport): empty allowed list = every registry.
    allowed_registries: str = Field("", alias="ALLOWED_REGISTRIES")
    blocked_registries: str = Field("", alias="BLOCKED_REGISTRIES")
    insecure_registries: str = Field("", alias="INSECURE_REGISTRIES")
    # ECR through the function's role: the accounts whose registries it may read
    # (``*`` or a comma-separated list; the template defaults it to the stack's
    # own account; empty: none), for registries no pull secret matches.
    ecr_accounts: str = Field("", alias="ECR_ACCOUNTS")
    # ``host=host[:port]`` pairs, comma-separated: connect to the second for the
    # first (a mirror, or a local registry standing in for ECR in tests).
    registry_endpoints: str = Field("", alias="REGISTRY_ENDPOINTS")

    # Budgets and bounds.
    import_parallelism: int = Field(64, ge=1, le=256, alias="IMPORT_PARALLELISM")
    registry_connect_timeout: float = Field(5.0, gt=0, alias="REGISTRY_CONNECT_TIMEOUT")
    registry_read_timeout: float = Field(15.0, gt=0, alias="REGISTRY_READ_TIMEOUT")
    registry_max_attempts: int = Field(4, ge=1, le=10, alias="REGISTRY_MAX_ATTEMPTS")
    import_time_budget: float = Field(20.0, gt=0, alias="IMPORT_TIME_BUDGET")
    max_body_bytes: int = Field(1024 * 1024, alias="MAX_BODY_BYTES")
    # Entries of spec.images one request may name; with realistic images the
    # answer stays far below Lambda's 6 MB response limit even uncompressed.
    max_import_images: int = Field(200, ge=1, alias="MAX_IMPORT_IMAGES")

    # Repository imports that do not fit inline: the api function imports for
    # ``inline_fraction`` of its time budget and queues the remaining tags.
    import_queue_url: str = Field("", alias="IMPORT_QUEUE_URL")
    # Re-imports: messages (of up to 25 tags) per second and registry, and the
    # Secrets Manager secret holding the shared secret of registry webhooks.
    reimports_per_second: float = Field(1.0, gt=0, alias="REIMPORTS_PER_SECOND")
    webhook_secret: str = Field("", alias="WEBHOOK_SECRET")
    inline_fraction: float = Field(0.6, gt=0, le=1, alias="INLINE_FRACTION")
    worker_time_budget: float = Field(600, gt=0, alias="WORKER_TIME_BUDGET")
    # Equal to the import queue's redrive ``maxReceiveCount``: on that receive
    # the worker records a chunk's tags as failed before SQS dead-letters it.
    chunk_max_receives: int = Field(3, ge=1, alias="CHUNK_MAX_RECEIVES")

    # API tokens (the authorizer): hashes and grants in one secret, by default
    # ``<pull secret prefix>/api-tokens``, cached ``api_tokens_max_age`` seconds.
    api_tokens_secret: str = Field("", alias="API_TOKENS_SECRET")
    api_tokens_max_age: int = Field(60, ge=0, alias="API_TOKENS_MAX_AGE")

    def tokens_secret_name(self) -> str:
        """The secret holding the API token document."""
        return self.api_tokens_secret or f"{self.pull_secret_prefix.rstrip('/')}/api-tokens"

    def endpoints(self) -> dict[str, str]:
        """``REGISTRY_ENDPOINTS`` as a map of registry host to the address connected to."""
        pairs = (item.partition("=") for item in self.registry_endpoints.split(","))
        return {host.strip(): to.strip() for host, _, to in pairs if host.strip() and to.strip()}

    def private_cidrs(self) -> list[str]:
        """The CIDRs explicitly allowed although they are not global."""
        return [c.strip() for c in self.allowed_private_cidrs.split(",") if c.strip()]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the settings from ``environ`` (default: the process environment)."""
    source = os.environ if environ is None else environ
    return Settings.model_validate(dict(source))
