"""Which network addresses the service may connect to.

Owns the resolution of registry, token-realm and redirect hosts and the check
of every resolved address against the deployment's policy. The caller then
connects to the address that was checked, never re-resolving the name, so a
DNS answer cannot change between the check and the connection.

Loopback, link-local (the instance metadata service), private, shared,
reserved and other non-global addresses are refused unless the deployment
allows private registries or names the address's network. IPv4-mapped IPv6
addresses are judged by their IPv4 address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from imagestreams.errors import ForbiddenRegistryError, UnavailableError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver; addresses in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def _plain(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and their IPv4-mapped forms."""
    return _plain(ipaddress.ip_address(address.split("%", 1)[0])).is_loopback


@dataclass(frozen=True)
class AddressPolicy:
    """The deployment's rule for non-global addresses."""

    allow_private: bool = False
    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)
    resolver: Resolver = system_resolver

    @classmethod
    def from_settings(cls, allow_private: bool, cidrs: Sequence[str]) -> AddressPolicy:
        networks = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        return cls(allow_private=allow_private, allowed_networks=networks)

    def permits(self, address: str) -> bool:
        """Whether a connection to ``address`` (an IP literal) is allowed."""
        ip = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
        if ip.is_global and not ip.is_multicast:
            return True
        if any(ip in net for net in self.allowed_networks):
            return True
        return self.allow_private and not ip.is_multicast and not ip.is_unspecified

    def resolve(self, host: str, port: int) -> str:
        """Resolve ``host`` and return the first address to connect to.

        Every resolved address must be permitted: a name that resolves to one
        public and one private address is refused, so that no answer order
        can route us inside.
        """
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            addresses = self.resolver(bare, port)
        except (OSError, UnicodeError) as exc:
            raise UnavailableError(detail=f"cannot resolve host {bare!r}: {exc}") from None
        if not addresses:
            raise UnavailableError(detail=f"cannot resolve host {bare!r}")
        for address in addresses:
            if not self.permits(address):
                raise ForbiddenRegistryError(
                    detail=(
                        f"host {bare!r} resolves to {address}, a non-public address; "
                        "private, loopback and link-local registries are not allowed"
                    )
                )
        return addresses[0]
