"""Which addresses the registry client may connect to."""

from __future__ import annotations

import pytest

from imagestreams.errors import ForbiddenRegistryError, UnavailableError
from imagestreams.registry.addresses import AddressPolicy, is_loopback, system_resolver

STRICT = AddressPolicy()
LOOPBACK_ALLOWED = AddressPolicy.from_settings(False, ["127.0.0.0/8"])
DEV = AddressPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "strict", "dev"),
    [
        ("8.8.8.8", True, True),
        ("2606:4700:4700::1111", True, True),
        ("127.0.0.1", False, True),
        ("127.255.0.9", False, True),
        ("::1", False, True),
        ("169.254.169.254", False, True),
        ("::ffff:169.254.169.254", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("fe80::1", False, True),
        ("10.0.0.1", False, True),
        ("172.16.5.4", False, True),
        ("192.168.1.1", False, True),
        ("100.64.0.1", False, True),
        ("fd00::1", False, True),
        ("0.0.0.0", False, False),
        ("::", False, False),
        ("224.0.0.1", False, False),
        ("192.0.2.1", False, True),
    ],
    ids=lambda v: str(v),
)
def test_permits(address: str, strict: bool, dev: bool) -> None:
    assert STRICT.permits(address) is strict
    assert DEV.permits(address) is dev


def test_allowed_networks_open_only_what_they_name() -> None:
    assert LOOPBACK_ALLOWED.permits("127.0.0.1")
    assert not LOOPBACK_ALLOWED.permits("10.0.0.1")
    assert not LOOPBACK_ALLOWED.permits("169.254.169.254")


@pytest.mark.parametrize(
    "host",
    [
        "127.1",
        "0x7f000001",
        "2130706433",
        "localhost",
        "[::ffff:169.254.169.254]",
        "169.254.169.254",
        "10.0.0.1",
    ],
)
def test_hosts_that_resolve_inside_are_refused(host: str) -> None:
    with pytest.raises(ForbiddenRegistryError, match="non-public address"):
        STRICT.resolve(host, 443)


def test_every_resolved_address_must_pass() -> None:
    policy = AddressPolicy(resolver=lambda host, port: ["93.184.216.34", "127.0.0.1"])
    with pytest.raises(ForbiddenRegistryError):
        policy.resolve("mixed.example", 443)


def test_the_checked_address_is_the_one_returned() -> None:
    policy = AddressPolicy(resolver=lambda host, port: ["93.184.216.34", "93.184.216.35"])
    assert policy.resolve("registry.example", 443) == "93.184.216.34"


def test_unresolvable_host_is_unavailable() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnavailableError, match="cannot resolve"):
        AddressPolicy(resolver=fail).resolve("nowhere.invalid", 443)


def test_system_resolver_reads_numeric_forms() -> None:
    assert system_resolver("127.1", 80) == ["127.0.0.1"]
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.1")
