"""The local server's HTTPS certificate: self-signed, made once, kept in the state directory.

kubectl, client-go and the Python ``kubernetes`` client send a bearer token
only over HTTPS, so the local server serves HTTPS too, with a certificate
it makes at its first start (``cryptography``, of the ``run`` extra)
and keeps as ``tls/cert.pem`` and ``tls/key.pem`` (0600) in the state
directory. The certificate is its own issuer, for 127.0.0.1, ::1,
``localhost`` and the address the server listens on when that is none of
them and no wildcard; a client trusts it as its certificate authority (the
kubeconfig's ``certificate-authority-data``), so it is a CA certificate
that may sign nothing but itself (path length 0) and serves TLS servers
only.

A kept certificate is used again while it names every host needed and is
valid for at least :data:`RENEW_BEFORE` more, so a kubeconfig made from it
keeps working across restarts; otherwise a new one replaces it.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devserver.state import write_private

# Hosts every certificate names.
DEFAULT_HOSTS = ("127.0.0.1", "::1", "localhost")
# Addresses that mean "every interface": clients reach them on loopback.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - compared, not bound
VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
COMMON_NAME = "imagestreams devserver"


@dataclass(frozen=True)
class ServerCertificate:
    """The certificate (PEM) and the files holding it and its key."""

    cert_file: Path
    key_file: Path
    pem: bytes

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context for this certificate: TLS 1.2 or newer, HTTP/1.1 by ALPN."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        # The server speaks HTTP/1.1 only: say so, or Go clients may try h2.
        context.set_alpn_protocols(["http/1.1"])
        return context


def certificate_hosts(listen_host: str) -> tuple[str, ...]:
    """The hosts the certificate must name when the server listens on ``listen_host``."""
    if listen_host in WILDCARD_HOSTS or listen_host in DEFAULT_HOSTS:
        return DEFAULT_HOSTS
    return (*DEFAULT_HOSTS, listen_host)


def ensure_certificate(
    directory: Path, hosts: Iterable[str] = DEFAULT_HOSTS, *, now: datetime | None = None
) -> ServerCertificate:
    """The certificate kept in ``directory`` if still good for ``hosts``, else a new one."""
    moment = now or datetime.now(UTC)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    wanted = tuple(dict.fromkeys(hosts))
    try:
        pem = cert_file.read_bytes()
        key_present = key_file.is_file()
    except OSError:
        pem, key_present = b"", False
    if key_present and _still_good(pem, wanted, moment):
        return ServerCertificate(cert_file, key_file, pem)
    pem, key = make_certificate(wanted, moment)
    write_private(key_file, key)
    write_private(cert_file, pem)
    return ServerCertificate(cert_file, key_file, pem)


def _still_good(pem: bytes, hosts: tuple[str, ...], moment: datetime) -> bool:
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(pem)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    named = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    named |= set(names.get_values_for_type(x509.DNSName))
    return (
        all(_canonical(host) in named for host in hosts)
        and certificate.not_valid_before_utc <= moment
        and moment + RENEW_BEFORE < certificate.not_valid_after_utc
    )


def _canonical(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


def make_certificate(hosts: Iterable[str], now: datetime) -> tuple[bytes, bytes]:
    """A new self-signed certificate for ``hosts`` and its key, both PEM."""
    # Imported here: cryptography is a local-run dependency only, and this
    # module is imported by the server at start.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    alternative_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alternative_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alternative_names.append(x509.DNSName(host.lower()))
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem
