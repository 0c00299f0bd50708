"""The local server's state directory, HTTPS certificate and kubeconfig (devserver.state,
devserver.tls, devserver.kubeconfig)."""

from __future__ import annotations

import base64
import ipaddress
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from devserver.kubeconfig import client_url, kubeconfig_document, write_kubeconfig
from devserver.seed import DevToken
from devserver.state import StateDir, write_private
from devserver.tls import (
    DEFAULT_HOSTS,
    RENEW_BEFORE,
    VALIDITY,
    certificate_hosts,
    ensure_certificate,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
DEMO = DevToken("demo-token", "dev-1", ("demo",))
TEAMS = DevToken("teams-token", "dev-2", ("team-a", "team-b"))
ADMIN = DevToken("admin-token", "dev-3", ("*",))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- The state directory -------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "project/.devserver"),
        ({"DEVSERVER_STATE_DIR": ""}, "project/.devserver"),
        ({"DEVSERVER_STATE_DIR": "elsewhere"}, "elsewhere"),
    ],
    ids=["default", "empty", "set"],
)
def test_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)

    state = StateDir.from_environment(environ, tmp_path / "project")

    assert state.root == tmp_path / expected


def test_private_files_are_0600_in_0700_directories_and_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "new" / "secret"

    write_private(target, b"one")
    write_private(target, b"two")

    assert target.read_bytes() == b"two"
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["secret"]


def test_tokens_and_the_webhook_secret_are_kept(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    assert state.kept_tokens() == []
    assert state.kept_webhook_secret() is None

    state.keep_tokens([DEMO, ADMIN])
    state.keep_webhook_secret("hook-secret")

    assert state.kept_tokens() == [DEMO, ADMIN]
    assert [t.token for t in state.kept_tokens()] == ["demo-token", "admin-token"]
    assert state.kept_webhook_secret() == "hook-secret"
    assert mode(state.tokens_file) == mode(state.webhook_secret_file) == 0o600


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '{"tokens": "x"}', '{"tokens": [1, {"token": "t"}]}'],
    ids=["not-json", "not-an-object", "not-a-list", "bad-entries"],
)
def test_an_unusable_tokens_file_keeps_no_token(tmp_path: Path, content: str) -> None:
    state = StateDir(tmp_path)
    state.tokens_file.write_text(content)

    assert state.kept_tokens() == []


# --- The certificate -------------------------------------------------------------------


def test_a_new_certificate_names_loopback_and_localhost(tmp_path: Path) -> None:
    made = ensure_certificate(tmp_path, DEFAULT_HOSTS, now=NOW)

    certificate = x509.load_pem_x509_certificate(made.pem)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert certificate.issuer == certificate.subject
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert constraints.path_length == 0
    assert certificate.not_valid_after_utc - NOW >= VALIDITY - timedelta(minutes=1)
    assert made.cert_file.read_bytes() == made.pem
    assert mode(made.key_file) == 0o600


def test_a_kept_certificate_is_used_again_until_it_nears_its_end(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, DEFAULT_HOSTS, now=NOW)

    later = ensure_certificate(tmp_path, DEFAULT_HOSTS, now=NOW + timedelta(days=100))
    near_the_end = ensure_certificate(
        tmp_path, DEFAULT_HOSTS, now=NOW + VALIDITY - RENEW_BEFORE + timedelta(days=1)
    )

    assert later.pem == first.pem
    assert near_the_end.pem != first.pem


def test_a_certificate_is_remade_for_a_host_it_does_not_name(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, certificate_hosts("127.0.0.1"), now=NOW)

    other = ensure_certificate(tmp_path, certificate_hosts("devbox.example"), now=NOW)

    assert other.pem != first.pem
    certificate = x509.load_pem_x509_certificate(other.pem)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "devbox.example" in names.get_values_for_type(x509.DNSName)


@pytest.mark.parametrize(
    ("host", "hosts"),
    [
        ("127.0.0.1", DEFAULT_HOSTS),
        ("0.0.0.0", DEFAULT_HOSTS),
        ("::", DEFAULT_HOSTS),
        ("192.0.2.7", (*DEFAULT_HOSTS, "192.0.2.7")),
    ],
)
def test_certificate_hosts(host: str, hosts: tuple[str, ...]) -> None:
    assert certificate_hosts(host) == hosts


def test_a_client_trusting_the_certificate_verifies_it_strictly(tmp_path: Path) -> None:
    made = ensure_certificate(tmp_path, DEFAULT_HOSTS, now=datetime.now(UTC))

    context = ssl.create_default_context(cafile=str(made.cert_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    server = made.server_context()

    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "imagestreams devserver"),),)
    assert server.minimum_version == ssl.TLSVersion.TLSv1_2


# --- The kubeconfig --------------------------------------------------------------------


def test_the_kubeconfig_has_a_context_per_token_and_trusts_the_certificate() -> None:
    document = kubeconfig_document("https://127.0.0.1:3443", b"PEM", [DEMO, TEAMS, ADMIN], DEMO)

    (cluster,) = document["clusters"]
    assert cluster["cluster"] == {
        "server": "https://127.0.0.1:3443",
        "certificate-authority-data": base64.b64encode(b"PEM").decode(),
    }
    users = {u["name"]: u["user"] for u in document["users"]}
    contexts = {c["name"]: c["context"] for c in document["contexts"]}
    assert users == {
        "imagestreams-local-dev-1": {"token": "demo-token"},
        "imagestreams-local-dev-2": {"token": "teams-token"},
        "imagestreams-local-dev-3": {"token": "admin-token"},
    }
    assert {name: c["namespace"] for name, c in contexts.items()} == {
        "imagestreams-local-dev-1": "demo",
        "imagestreams-local-dev-2": "team-a",
        "imagestreams-local-dev-3": "demo",
    }
    assert document["current-context"] == "imagestreams-local-dev-1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://127.0.0.1:3443", "https://127.0.0.1:3443"),
        ("https://0.0.0.0:3443", "https://127.0.0.1:3443"),
        ("https://[::]:3443", "https://[::1]:3443"),
        ("https://[::1]:3443", "https://[::1]:3443"),
        ("https://devbox.example:3443", "https://devbox.example:3443"),
    ],
)
def test_the_kubeconfig_names_an_address_clients_reach(url: str, expected: str) -> None:
    assert client_url(url) == expected


def test_the_kubeconfig_file_is_yaml_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"

    write_kubeconfig(path, "https://127.0.0.1:3443", b"PEM", [DEMO], DEMO)

    assert yaml.safe_load(path.read_text())["users"][0]["user"]["token"] == "demo-token"
    assert mode(path) == 0o600
