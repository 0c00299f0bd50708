"""Amazon ECR registries, and when the function's own role may sign in to one (pure).

This module owns what an ECR registry host is and the rule that decides
whether an import may use the function's IAM role instead of a pull secret:

- a private ECR registry is ``<account>.dkr.ecr.<region>.amazonaws.com``,
  its FIPS form ``<account>.dkr.ecr-fips.<region>.amazonaws.com``, or the
  China partition's ``<account>.dkr.ecr.<region>.amazonaws.com.cn``;
  ``public.ecr.aws`` (ECR Public) is not one of them: it hands anonymous
  tokens through the registry's own challenge, as any token registry does;
- the accounts a namespace may read through the role are a setting
  (``ECR_ACCOUNTS``: ``*`` or a comma-separated list of account ids), so a
  tenant cannot make the service's role read images of an account it was not
  meant to: a registry of another account is refused, as a per-image
  ``Forbidden``;
- :class:`RoleCredentials` gives the role's credential of an allowed
  registry from a :class:`RegistryTokens` source (the adapter that calls
  ``ecr:GetAuthorizationToken`` and caches its answer).

Credentials are tried in this order: a pull secret of the namespace that
matches the registry, then the role (for ECR registries), then none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from imagestreams.credentials import Credential
from imagestreams.errors import ForbiddenRegistryError

__all__ = [
    "ECR_PUBLIC",
    "AccountPolicy",
    "EcrRegistry",
    "RegistryTokens",
    "RoleCredentials",
    "parse_registry",
    "registry_host",
]

ECR_PUBLIC = "public.ecr.aws"

_ACCOUNT = r"(?P<account>[0-9]{12})"
_SERVICE = r"dkr\.(?P<service>ecr|ecr-fips)"
_REGION = r"(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)"
_SUFFIX = r"amazonaws\.com(?P<china>\.cn)?"
_HOST = re.compile(rf"{_ACCOUNT}\.{_SERVICE}\.{_REGION}\.{_SUFFIX}")


@dataclass(frozen=True)
class EcrRegistry:
    """A private ECR registry: the account that owns it, its region, and its endpoint kind."""

    account: str
    region: str
    fips: bool = False

    @property
    def host(self) -> str:
        return registry_host(self.account, self.region, fips=self.fips)


def parse_registry(host: str) -> EcrRegistry | None:
    """The ECR registry ``host`` names (no port), or None when it is not a private ECR host."""
    match = _HOST.fullmatch(host.lower())
    if match is None:
        return None
    china = match["china"] is not None
    if china != match["region"].startswith("cn-"):
        return None
    return EcrRegistry(match["account"], match["region"], fips=match["service"] == "ecr-fips")


def registry_host(account: str, region: str, *, fips: bool = False) -> str:
    """The registry host of ``account`` in ``region`` (``.com.cn`` in the China partition)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    service = "ecr-fips" if fips else "ecr"
    return f"{account}.dkr.{service}.{region}.{suffix}"


@dataclass(frozen=True)
class AccountPolicy:
    """The AWS accounts whose registries the role may be used for."""

    accounts: frozenset[str] = frozenset()
    every: bool = False

    @classmethod
    def parse(cls, text: str) -> AccountPolicy:
        """``*`` (every account), or account ids separated by commas; empty: none."""
        items = {item.strip() for item in text.split(",") if item.strip()}
        return cls(frozenset(items - {"*"}), every="*" in items)

    def allows(self, account: str) -> bool:
        return self.every or account in self.accounts

    @property
    def enabled(self) -> bool:
        return self.every or bool(self.accounts)


class RegistryTokens(Protocol):
    """Where the role's registry credentials come from (``ecr:GetAuthorizationToken``)."""

    def credential(self, registry: EcrRegistry) -> Credential:
        """The role's credential for ``registry``; a :class:`RegistryError` when it has none."""
        ...


@dataclass(frozen=True)
class RoleCredentials:
    """The function's role as the credential of ECR registries that no pull secret matches."""

    tokens: RegistryTokens
    policy: AccountPolicy

    def credential(self, host: str) -> Credential | None:
        """The role's credential for ``host``; None for a registry that is not ECR.

        Raises :class:`ForbiddenRegistryError` for an account the policy does
        not allow, and what :class:`RegistryTokens` raises when the token
        request fails.
        """
        registry = parse_registry(host)
        if registry is None:
            return None
        if not self.policy.allows(registry.account):
            raise ForbiddenRegistryError(
                detail=(
                    f"AWS account {registry.account} is not one whose ECR registries this "
                    "service may read with its own role (ECR_ACCOUNTS); add a pull secret "
                    "for the registry, or ask an administrator to allow the account"
                )
            )
        return self.tokens.credential(registry)
