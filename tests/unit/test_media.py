"""Media types, manifest digests (signed schema1 included) and media-type sniffing.

The signed schema1 manifest is built here the way docker/libtrust builds a
"pretty" JWS: a three-space indented payload, a protected header carrying
``formatLength``/``formatTail``, an ES256 signature over
``protected.payload``, and the ``signatures`` member spliced in before the
closing brace. The signature really verifies, so the payload the module
recovers is provably the one that was signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from imagestreams.errors import UnsupportedContentError
from imagestreams.registry import media


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


SCHEMA1_DOC: dict[str, Any] = {
    "schemaVersion": 1,
    "name": "library/busybox",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [
        {"blobSum": "sha256:" + "a" * 64},
        {"blobSum": "sha256:" + "b" * 64},
    ],
    "history": [
        {"v1Compatibility": json.dumps({"id": "1" * 64, "parent": "2" * 64, "Size": 5})},
        {"v1Compatibility": json.dumps({"id": "2" * 64, "Size": 7})},
    ],
}


def _signature(key: ec.EllipticCurvePrivateKey, payload: bytes, protected: str) -> dict[str, Any]:
    der = key.sign(f"{protected}.{b64url(payload)}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    numbers = key.public_key().public_numbers()
    return {
        "header": {
            "jwk": {
                "crv": "P-256",
                "kty": "EC",
                "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big")),
            },
            "alg": "ES256",
        },
        "signature": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        "protected": protected,
    }


def sign_schema1(doc: dict[str, Any], signers: int = 1) -> tuple[bytes, bytes]:
    """Return (pretty JWS, signed payload) for ``doc``, signed by ``signers`` keys."""
    payload = json.dumps(doc, indent=3).encode()
    format_length = len(payload) - 2  # everything before the closing "\n}"
    protected = b64url(
        json.dumps(
            {
                "formatLength": format_length,
                "formatTail": b64url(payload[format_length:]),
                "time": "2016-01-02T03:04:05Z",
            }
        ).encode()
    )
    signatures = [
        _signature(ec.generate_private_key(ec.SECP256R1()), payload, protected)
        for _ in range(signers)
    ]
    pretty = (
        payload[:format_length]
        + b',\n   "signatures": '
        + json.dumps(signatures, indent=3).replace("\n", "\n   ").encode()
        + b"\n}"
    )
    return pretty, payload


def verify(pretty: bytes, payload: bytes) -> None:
    """Check every ES256 signature of ``pretty`` over ``payload``; raise if one fails."""
    for signature in json.loads(pretty)["signatures"]:
        jwk = signature["header"]["jwk"]
        public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64url_decode(jwk["x"]), "big"),
            int.from_bytes(b64url_decode(jwk["y"]), "big"),
            ec.SECP256R1(),
        ).public_key()
        raw = b64url_decode(signature["signature"])
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        signed = f"{signature['protected']}.{b64url(payload)}".encode()
        public.verify(der, signed, ec.ECDSA(hashes.SHA256()))


# --- schema1 payload and digest ---------------------------------------------------


@pytest.mark.parametrize("signers", [1, 2], ids=["one-signature", "two-signatures"])
def test_signed_schema1_payload_is_what_was_signed(signers: int) -> None:
    # Given a libtrust-style signed manifest
    pretty, payload = sign_schema1(SCHEMA1_DOC, signers)

    # When its payload is recovered
    recovered = media.schema1_payload(pretty)

    # Then it is the signed payload, byte for byte, and the signatures verify over it
    assert recovered == payload
    verify(pretty, recovered)
    assert json.loads(recovered) == SCHEMA1_DOC


def test_signed_schema1_digest_is_of_the_payload_not_the_raw_bytes() -> None:
    pretty, payload = sign_schema1(SCHEMA1_DOC)

    digest = media.digest_of(pretty, media.DOCKER_SCHEMA1_SIGNED)

    assert digest == sha256(payload)
    assert digest != sha256(pretty)
    # The unsigned media type still finds the payload of a signed document.
    assert media.digest_of(pretty, media.DOCKER_SCHEMA1) == sha256(payload)


def test_unsigned_schema1_is_its_own_payload() -> None:
    raw = json.dumps(SCHEMA1_DOC, indent=3).encode()

    assert media.schema1_payload(raw) == raw
    assert media.digest_of(raw, media.DOCKER_SCHEMA1) == sha256(raw)


def _protected(header: dict[str, Any]) -> str:
    return b64url(json.dumps(header).encode())


def _with_signatures(signatures: Any) -> bytes:
    return json.dumps({"schemaVersion": 1, "signatures": signatures}).encode()


TAIL = b64url(b"\n}")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(_with_signatures("nope"), id="signatures-not-a-list"),
        pytest.param(_with_signatures([{"header": {}}]), id="no-protected-header"),
        pytest.param(_with_signatures([{"protected": "!!!"}]), id="protected-not-base64url"),
        pytest.param(_with_signatures([{"protected": b64url(b"[]")}]), id="protected-not-object"),
        pytest.param(
            _with_signatures([{"protected": _protected({"formatTail": TAIL})}]),
            id="no-format-length",
        ),
        pytest.param(
            _with_signatures([{"protected": _protected({"formatLength": 3})}]),
            id="no-format-tail",
        ),
        pytest.param(
            _with_signatures([{"protected": _protected({"formatLength": 3, "formatTail": "%"})}]),
            id="format-tail-not-base64url",
        ),
        pytest.param(
            _with_signatures(
                [{"protected": _protected({"formatLength": 10**6, "formatTail": TAIL})}]
            ),
            id="format-length-out-of-range",
        ),
        pytest.param(
            _with_signatures(
                [
                    {"protected": _protected({"formatLength": 3, "formatTail": TAIL})},
                    {"protected": _protected({"formatLength": 4, "formatTail": TAIL})},
                ]
            ),
            id="signatures-disagree-on-length",
        ),
        pytest.param(
            _with_signatures(
                [
                    {"protected": _protected({"formatLength": 3, "formatTail": TAIL})},
                    {"protected": _protected({"formatLength": 3, "formatTail": b64url(b"}")})},
                ]
            ),
            id="signatures-disagree-on-tail",
        ),
    ],
)
def test_malformed_schema1_signatures_are_unsupported(raw: bytes) -> None:
    with pytest.raises(UnsupportedContentError):
        media.schema1_payload(raw)


# --- digests of other types ----------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "hasher"),
    [("sha256", hashlib.sha256), ("sha384", hashlib.sha384), ("sha512", hashlib.sha512)],
    ids=["sha256", "sha384", "sha512"],
)
def test_digest_of_raw_manifest(algorithm: str, hasher: Any) -> None:
    raw = b'{"schemaVersion": 2, "mediaType": "x"}'

    assert media.digest_of(raw, media.OCI_MANIFEST, algorithm) == (
        f"{algorithm}:{hasher(raw).hexdigest()}"
    )


def test_digest_of_rejects_unknown_algorithm() -> None:
    with pytest.raises(UnsupportedContentError):
        media.digest_of(b"{}", media.OCI_MANIFEST, "md5")


# --- media types ------------------------------------------------------------------------


def test_accept_lists_the_six_manifest_types_once() -> None:
    assert sorted(media.ACCEPT_MANIFEST) == sorted(
        {
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        }
    )


@pytest.mark.parametrize(
    ("media_type", "is_list", "is_schema1"),
    [
        (media.DOCKER_SCHEMA2, False, False),
        (media.OCI_MANIFEST, False, False),
        (media.DOCKER_MANIFEST_LIST, True, False),
        (media.OCI_INDEX, True, False),
        (media.DOCKER_SCHEMA1, False, True),
        (media.DOCKER_SCHEMA1_SIGNED, False, True),
        ("application/json", False, False),
    ],
)
def test_kind_predicates(media_type: str, is_list: bool, is_schema1: bool) -> None:
    assert media.is_list(media_type) is is_list
    assert media.is_schema1(media_type) is is_schema1


def _doc(**members: Any) -> bytes:
    return json.dumps(members).encode()


CONFIG = {"mediaType": media.DOCKER_CONFIG, "digest": "sha256:" + "c" * 64, "size": 1}


@pytest.mark.parametrize(
    ("raw", "header", "expected"),
    [
        pytest.param(b"garbage", media.DOCKER_SCHEMA2, media.DOCKER_SCHEMA2, id="header-wins"),
        pytest.param(
            _doc(layers=[]),
            "Application/VND.OCI.image.manifest.v1+json; charset=utf-8",
            media.OCI_MANIFEST,
            id="header-with-parameters",
        ),
        pytest.param(
            _doc(schemaVersion=2, mediaType=media.DOCKER_SCHEMA2, config=CONFIG, layers=[]),
            "application/json",
            media.DOCKER_SCHEMA2,
            id="generic-header-mediatype-field",
        ),
        pytest.param(
            _doc(schemaVersion=2, mediaType=media.DOCKER_MANIFEST_LIST, manifests=[]),
            None,
            media.DOCKER_MANIFEST_LIST,
            id="docker-list-by-field",
        ),
        pytest.param(
            _doc(schemaVersion=2, manifests=[]), "text/plain", media.OCI_INDEX, id="index-shape"
        ),
        pytest.param(
            _doc(schemaVersion=2, config=CONFIG, layers=[]),
            None,
            media.OCI_MANIFEST,
            id="oci-shape",
        ),
        pytest.param(
            _doc(schemaVersion=1, fsLayers=[], signatures=[{"protected": "x"}]),
            "application/json",
            media.DOCKER_SCHEMA1_SIGNED,
            id="schema1-signed",
        ),
        pytest.param(
            _doc(schemaVersion=1, fsLayers=[]), "", media.DOCKER_SCHEMA1, id="schema1-unsigned"
        ),
    ],
)
def test_sniff_media_type(raw: bytes, header: str | None, expected: str) -> None:
    assert media.sniff_media_type(raw, header) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"<html>", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b"{}", id="nothing-recognisable"),
        pytest.param(
            _doc(mediaType="application/vnd.oci.artifact.manifest.v1+json"), id="artifact"
        ),
        pytest.param(_doc(schemaVersion=3), id="unknown-schema-version"),
    ],
)
def test_sniff_rejects_what_is_not_a_manifest(raw: bytes) -> None:
    with pytest.raises(UnsupportedContentError):
        media.sniff_media_type(raw, "application/octet-stream")
