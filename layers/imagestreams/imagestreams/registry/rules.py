"""Which registries a deployment may import from, and which it treats as insecure (pure).

Owns the deployment's registry lists, matched the way OpenShift matches its
``allowedRegistriesForImport``: a registry is ``host:port`` (the port defaults
to 443, or 80 for an insecure import), and each pattern's host and port are
globs where ``*`` matches any run of characters. A blocked registry, or one
missing from a non-empty allowed list, is refused when the request is
validated, with OpenShift's message. Address checks after DNS resolution are
``registry.addresses``' job, not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from imagestreams.reference import Reference


def _patterns(text: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in text.split(",") if p.strip())


def _split(hostport: str, default_port: str) -> tuple[str, str]:
    if hostport.startswith("["):
        host, _, rest = hostport.partition("]")
        return host + "]", rest[1:] if rest.startswith(":") else default_port
    host, sep, port = hostport.rpartition(":")
    return (host, port) if sep else (hostport, default_port)


def registry_of(ref: Reference, insecure: bool = False) -> str:
    """``host:port`` of the registry ``ref`` names, ports defaulted as OpenShift does."""
    host, port = _split(ref.domain.lower(), "80" if insecure else "443")
    return f"{host}:{port}"


def _matches(registry: str, pattern: str, insecure: bool) -> bool:
    host, port = _split(registry, "443")
    pattern_host, pattern_port = _split(pattern, "80" if insecure else "443")
    return fnmatchcase(host, pattern_host) and fnmatchcase(port, pattern_port)


@dataclass(frozen=True)
class RegistryRules:
    """Allowed, blocked and insecure registry patterns of a deployment."""

    allowed: Sequence[str] = ()
    blocked: Sequence[str] = ()
    insecure: Sequence[str] = ()

    @classmethod
    def from_settings(cls, allowed: str, blocked: str, insecure: str) -> RegistryRules:
        """Rules from comma-separated pattern lists."""
        return cls(_patterns(allowed), _patterns(blocked), _patterns(insecure))

    def forbidden(self, ref: Reference, insecure: bool = False) -> str | None:
        """Why importing from ``ref``'s registry is forbidden, or None if it is not."""
        registry = registry_of(ref, insecure)
        prefix = f'importing images from registry "{registry}" is forbidden'
        if any(_matches(registry, p, insecure) for p in self.blocked):
            return f'{prefix}: registry "{registry}" is blocked'
        if self.allowed and not any(_matches(registry, p, insecure) for p in self.allowed):
            listed = ", ".join(f'"{_with_port(p, insecure)}"' for p in self.allowed)
            return f'{prefix}: registry "{registry}" not allowed by whitelist: {listed}'
        return None

    def is_insecure(self, ref: Reference) -> bool:
        """Whether the deployment lets ``ref``'s registry use plain http or unverified TLS.

        A pattern without a port names the host on every port.
        """
        registry = registry_of(ref)
        host, _ = _split(registry, "443")
        return any(
            _matches(registry, p, False) if _has_port(p) else fnmatchcase(host, p)
            for p in self.insecure
        )


def _has_port(pattern: str) -> bool:
    return ":" in pattern.rsplit("]", 1)[-1]


def _with_port(pattern: str, insecure: bool) -> str:
    host, port = _split(pattern, "80" if insecure else "443")
    return f"{host}:{port}"
