"""Test images: build them locally, push them to real registries, describe what is served.

This module owns everything the tests and the benchmark need to put images
into a registry:

* an in-memory image model (random gzip'd tar layers, an OCI/Docker config,
  single-arch manifests and multi-arch indexes) and a writer for OCI image
  layouts on disk;
* pushing with ``skopeo copy`` (OCI, Docker schema 2, Docker schema 1, ``--all``);
* :class:`RegistryClient`, a small client speaking the registry HTTP API
  (Basic and Bearer auth, monolithic blob uploads, manifest PUT/GET/DELETE)
  used to push many tags quickly and to read back what the registry serves;
* :class:`PushedImage`, the record of what the registry serves for a tag.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode, urljoin

import urllib3

# --------------------------------------------------------------------------- media types

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1_UNSIGNED = "application/vnd.docker.distribution.manifest.v1+json"

LIST_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
SCHEMA1_MEDIA_TYPES = frozenset({SCHEMA1_SIGNED, SCHEMA1_UNSIGNED})
ACCEPT_ALL = ", ".join(
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST, SCHEMA1_SIGNED, SCHEMA1_UNSIGNED]
)

ImageFormat = Literal["oci", "v2s2", "v2s1"]
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

#: The User-Agent of :class:`RegistryClient`, to tell helper requests apart in access logs.
HELPER_USER_AGENT = "imagestreams-test-helper/1"
DEFAULT_TIMEOUT = urllib3.Timeout(connect=5.0, read=60.0)
SKOPEO_TIMEOUT = 180.0


def sha256_digest(data: bytes) -> str:
    """Return the ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def schema1_payload(data: bytes) -> bytes:
    """The signed payload of a schema 1 JWS manifest (what its digest is taken over).

    The registry identifies a signed schema 1 manifest by the digest of the bytes
    without the ``signatures`` section, rebuilt from the ``formatLength`` and
    ``formatTail`` of the first signature's protected header. Unsigned input is
    returned unchanged.
    """
    signatures = json.loads(data).get("signatures") or []
    if not signatures:
        return data
    protected = signatures[0]["protected"]
    header = json.loads(base64.urlsafe_b64decode(protected + "=" * (-len(protected) % 4)))
    tail = header["formatTail"]
    return data[: header["formatLength"]] + base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))


def manifest_digest(data: bytes) -> str:
    """The digest a registry gives manifest bytes (schema 1 signatures excluded)."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return sha256_digest(data)
    if isinstance(parsed, dict) and parsed.get("schemaVersion") == 1:
        return sha256_digest(schema1_payload(data))
    return sha256_digest(data)


def canonical_json(obj: Any) -> bytes:
    """Serialise ``obj`` deterministically (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- image model


@dataclass(frozen=True)
class Blob:
    """Content-addressed bytes (a layer or a config)."""

    data: bytes

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Layer(Blob):
    """A gzip'd tar layer together with the digest of its uncompressed tar."""

    diff_id: str = ""


@dataclass(frozen=True)
class Platform:
    """The platform of one image in a multi-arch index."""

    architecture: str
    os: str = "linux"
    variant: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


MULTIARCH_PLATFORMS: tuple[Platform, ...] = (
    Platform("amd64"),
    Platform("arm64", variant="v8"),
    Platform("ppc64le"),
)


def random_layer(files: int = 2, file_size: int = 512) -> Layer:
    """Build a small gzip'd tar layer holding ``files`` files of random bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo("data")
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        folder.mtime = 1_700_000_000
        tar.addfile(folder)
        for index in range(files):
            content = secrets.token_bytes(file_size)
            info = tarfile.TarInfo(f"data/{secrets.token_hex(6)}-{index}.bin")
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    compressed = gzip.compress(tar_bytes, mtime=0)
    return Layer(data=compressed, diff_id=sha256_digest(tar_bytes))


@dataclass(frozen=True)
class Image:
    """A single-platform image: a config blob and its layers, in order."""

    config: Blob
    layers: tuple[Layer, ...]
    platform: Platform
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def config_json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.config.data)
        return parsed

    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]

    def manifest(self, fmt: Literal["oci", "v2s2"] = "oci") -> tuple[bytes, str]:
        """Return ``(manifest bytes, media type)`` in OCI or Docker schema 2 form."""
        oci = fmt == "oci"
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "digest": self.config.digest,
                "size": self.config.size,
            },
            "layers": [
                {
                    "mediaType": OCI_LAYER_GZIP if oci else DOCKER_LAYER_GZIP,
                    "digest": layer.digest,
                    "size": layer.size,
                }
                for layer in self.layers
            ],
        }
        if oci and self.annotations:
            manifest["annotations"] = dict(self.annotations)
        return json.dumps(manifest, indent=3).encode(), manifest["mediaType"]


@dataclass(frozen=True)
class ImageIndex:
    """A multi-arch image: one :class:`Image` per platform."""

    images: tuple[Image, ...]

    def blobs(self) -> list[Blob]:
        seen: dict[str, Blob] = {}
        for image in self.images:
            for blob in image.blobs():
                seen.setdefault(blob.digest, blob)
        return list(seen.values())

    def manifest(self, fmt: Literal["oci", "v2s2"] = "oci") -> tuple[bytes, str]:
        """Return ``(index bytes, media type)`` as an OCI index or a Docker manifest list."""
        entries = []
        for image in self.images:
            child, child_type = image.manifest(fmt)
            entries.append(
                {
                    "mediaType": child_type,
                    "digest": sha256_digest(child),
                    "size": len(child),
                    "platform": image.platform.as_dict(),
                }
            )
        media_type = OCI_INDEX if fmt == "oci" else DOCKER_LIST
        index = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
        return json.dumps(index, indent=3).encode(), media_type


AnyImage = Image | ImageIndex


def build_image(
    *,
    platform: Platform | None = None,
    layers: int | Sequence[Layer] = 2,
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    cmd: Sequence[str] = ("/bin/sh", "-c", "echo hello"),
    labels: Mapping[str, str] | None = None,
    author: str = "Image Builder <builder@example.com>",
    created: datetime | None = None,
    extra_config: Mapping[str, Any] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """Build a random single-platform image.

    ``layers`` is a count of fresh random layers or the layers themselves (to share
    layers between images). ``extra_config`` is merged into the config's ``config``
    section (e.g. ``{"WorkingDir": "/srv"}``).
    """
    platform = platform or Platform("amd64")
    layer_list = (
        tuple(random_layer() for _ in range(layers)) if isinstance(layers, int) else tuple(layers)
    )
    created = created or datetime.now(UTC).replace(microsecond=0)
    run_config: dict[str, Any] = {
        "Env": list(env),
        "Cmd": list(cmd),
        "Labels": dict(labels) if labels is not None else {"test.nonce": secrets.token_hex(8)},
    }
    run_config.update(extra_config or {})
    start = created - timedelta(minutes=len(layer_list))
    history = [
        {
            "created": _rfc3339(start + timedelta(minutes=index)),
            "created_by": f"/bin/sh -c #(nop) ADD layer {index}",
            "author": author,
        }
        for index in range(len(layer_list))
    ]
    config: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "created": _rfc3339(created),
        "author": author,
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layer_list]},
        "history": history,
    }
    if platform.variant:
        config["variant"] = platform.variant
    return Image(
        config=Blob(canonical_json(config)),
        layers=layer_list,
        platform=platform,
        annotations=dict(annotations or {}),
    )


def build_index(
    platforms: Sequence[Platform] = MULTIARCH_PLATFORMS, **image_kwargs: Any
) -> ImageIndex:
    """Build a multi-arch image, one random image per platform."""
    return ImageIndex(tuple(build_image(platform=p, **image_kwargs) for p in platforms))


# --------------------------------------------------------------------------- OCI layouts


def write_oci_layout(image: AnyImage, directory: Path, ref: str = "latest") -> Path:
    """Write ``image`` as an OCI image layout in ``directory`` tagged ``ref``.

    Returns the layout directory; ``oci:<directory>:<ref>`` names the image for skopeo.
    """
    blobs_dir = directory / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = sha256_digest(data)
        (blobs_dir / digest.removeprefix("sha256:")).write_bytes(data)
        return digest

    for blob in image.blobs():
        put(blob.data)
    if isinstance(image, ImageIndex):
        for child in image.images:
            put(child.manifest("oci")[0])
    top, media_type = image.manifest("oci")
    top_digest = put(top)

    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = directory / "index.json"
    entries: list[dict[str, Any]] = []
    if index_path.exists():
        existing = json.loads(index_path.read_text())
        entries = [
            e
            for e in existing.get("manifests", [])
            if e.get("annotations", {}).get(REF_NAME_ANNOTATION) != ref
        ]
    entries.append(
        {
            "mediaType": media_type,
            "digest": top_digest,
            "size": len(top),
            "annotations": {REF_NAME_ANNOTATION: ref},
        }
    )
    index_path.write_text(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    )
    return directory


# --------------------------------------------------------------------------- registry access


class RegistryLike(Protocol):
    """What the helpers need to know about a running registry."""

    @property
    def host(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def push_credentials(self) -> tuple[str, str] | None: ...


class RegistryError(RuntimeError):
    """The registry (or its token service) answered something unexpected."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{message} (status {status}): {body[:500]!r}")
        self.status = status
        self.body = body
        self.headers = urllib3.HTTPHeaderDict(headers or {})  # case-insensitive


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a ``WWW-Authenticate`` header into its scheme and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def _basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()


_REPO_IN_PATH = re.compile(r"^/v2/(?P<repo>.+?)/(?:manifests|blobs|tags)/")


class RegistryClient:
    """A small registry API client: Basic and Bearer auth, blob uploads, manifests.

    Bearer tokens are fetched from the realm the registry's challenge names, one per
    repository (scope ``repository:<repo>:pull[,push]``), and reused until a 401.
    Thread-safe: one client may be shared by a pool of pushing threads.
    """

    def __init__(
        self,
        base_url: str,
        credentials: tuple[str, str] | None = None,
        *,
        push: bool = True,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.push = push
        self.http = pool or urllib3.PoolManager(
            num_pools=4,
            maxsize=16,
            retries=False,
            timeout=DEFAULT_TIMEOUT,
            # Test registries on loopback may use self-signed certificates.
            cert_reqs="CERT_NONE",
        )
        self._scheme: str | None = None  # "basic" or "bearer" once challenged
        self._bearer: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_registry(cls, registry: RegistryLike, *, push: bool = True) -> RegistryClient:
        """A client for ``registry`` using its pushing credentials."""
        return cls(registry.url, registry.push_credentials, push=push)

    # -- auth

    def _auth_header(self, repo: str | None) -> str | None:
        if self._scheme == "basic" and self.credentials:
            return _basic(self.credentials)
        if self._scheme == "bearer":
            token = self._bearer.get(repo or "")
            return f"Bearer {token}" if token else None
        return None

    def _scope_for(self, repo: str | None, challenged_scope: str | None) -> str | None:
        if repo is None:
            return challenged_scope
        return f"repository:{repo}:{'pull,push' if self.push else 'pull'}"

    def fetch_token(self, realm: str, service: str | None, scope: str | None) -> str:
        """Fetch a Bearer token from ``realm`` for ``scope`` with this client's credentials."""
        query: list[tuple[str, str]] = []
        if service:
            query.append(("service", service))
        if scope:
            query.append(("scope", scope))
        headers = {"User-Agent": HELPER_USER_AGENT}
        if self.credentials:
            headers["Authorization"] = _basic(self.credentials)
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        response = self.http.request("GET", url, headers=headers, redirect=False)
        if response.status != 200:
            raise RegistryError(
                "token request refused", response.status, response.data, response.headers
            )
        payload = json.loads(response.data)
        token = payload.get("token") or payload.get("access_token")
        if not token:
            raise RegistryError("token response without a token", response.status, response.data)
        return str(token)

    def _answer_challenge(self, repo: str | None, header: str) -> bool:
        scheme, params = parse_challenge(header)
        with self._lock:
            if scheme == "basic":
                if not self.credentials or self._scheme == "basic":
                    return False
                self._scheme = "basic"
                return True
            if scheme == "bearer" and "realm" in params:
                self._scheme = "bearer"
                scope = self._scope_for(repo, params.get("scope"))
                token = self.fetch_token(params["realm"], params.get("service"), scope)
                self._bearer[repo or ""] = token
                return True
        return False

    # -- requests

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        repo: str | None = None,
        expect: Iterable[int] = (200,),
        follow_redirects: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """Send an authenticated request, answering one auth challenge; check the status."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        if repo is None:
            match = _REPO_IN_PATH.match(path_or_url if "://" not in path_or_url else "")
            repo = match.group("repo") if match else None
        expected = set(expect)
        response: urllib3.BaseHTTPResponse | None = None
        for _attempt in range(2):
            all_headers = {"User-Agent": HELPER_USER_AGENT, **(headers or {})}
            auth = self._auth_header(repo)
            if auth:
                all_headers["Authorization"] = auth
            response = self.http.request(
                method, url, body=body, headers=all_headers, redirect=False
            )
            if follow_redirects and response.status in (301, 302, 303, 307, 308):
                # Like a careful client: the redirect target gets no credentials.
                target = urljoin(url, response.headers["Location"])
                response = self.http.request(
                    method, target, headers={"User-Agent": HELPER_USER_AGENT}, redirect=False
                )
                break
            challenge = response.headers.get("WWW-Authenticate")
            if response.status == 401 and challenge and self._answer_challenge(repo, challenge):
                continue
            break
        assert response is not None
        if expected and response.status not in expected:
            raise RegistryError(
                f"{method} {url} failed", response.status, response.data, response.headers
            )
        return response

    def ping(self) -> int:
        """GET /v2/ (authenticating if challenged); return the final status."""
        return self.request("GET", "/v2/", expect=()).status

    def blob_exists(self, repo: str, digest: str) -> bool:
        """HEAD a blob; a redirect (to wherever the registry keeps it) means it exists."""
        response = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", expect=(200, 307, 404))
        return response.status != 404

    def upload_blob(self, repo: str, data: bytes, *, check_exists: bool = True) -> str:
        """Upload ``data`` monolithically (POST, then PUT ``?digest=``); return its digest."""
        digest = sha256_digest(data)
        if check_exists and self.blob_exists(repo, digest):
            return digest
        started = self.request("POST", f"/v2/{repo}/blobs/uploads/", repo=repo, expect=(202,))
        location = urljoin(self.base_url + "/", started.headers["Location"])
        location += ("&" if "?" in location else "?") + "digest=" + quote(digest)
        self.request(
            "PUT",
            location,
            body=data,
            repo=repo,
            headers={"Content-Type": "application/octet-stream"},
            expect=(201,),
        )
        return digest

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or digest; return the registry's digest for it."""
        response = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            body=data,
            headers={"Content-Type": media_type},
            expect=(201,),
        )
        return response.headers.get("Docker-Content-Digest") or sha256_digest(data)

    def get_manifest(
        self, repo: str, reference: str, accept: str = ACCEPT_ALL
    ) -> tuple[bytes, str, str | None]:
        """GET a manifest; return ``(bytes as served, Content-Type, Docker-Content-Digest)``."""
        response = self.request(
            "GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept}
        )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return response.data, media_type, response.headers.get("Docker-Content-Digest")

    def manifest_digest(self, repo: str, reference: str, accept: str = ACCEPT_ALL) -> str:
        """HEAD a manifest and return its Docker-Content-Digest."""
        response = self.request(
            "HEAD", f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept}
        )
        return str(response.headers["Docker-Content-Digest"])

    def get_blob(self, repo: str, digest: str) -> bytes:
        """GET a blob, following a redirect to wherever the registry sends it."""
        return self.request("GET", f"/v2/{repo}/blobs/{digest}", follow_redirects=True).data

    def delete_manifest(self, repo: str, digest: str) -> None:
        """DELETE a manifest by digest (needs ``storage.delete.enabled``)."""
        self.request("DELETE", f"/v2/{repo}/manifests/{digest}", expect=(202,))

    def delete_blob(self, repo: str, digest: str) -> None:
        """DELETE a blob from a repository (needs ``storage.delete.enabled``)."""
        self.request("DELETE", f"/v2/{repo}/blobs/{digest}", expect=(202,))

    def tags(self, repo: str) -> list[str]:
        """All tags of ``repo``, following ``Link`` pagination."""
        tags: list[str] = []
        path: str | None = f"/v2/{repo}/tags/list?n=1000"
        while path:
            response = self.request("GET", path, repo=repo)
            tags.extend(json.loads(response.data).get("tags") or [])
            link = response.headers.get("Link")
            match = re.match(r"<([^>]+)>", link or "")
            path = match.group(1) if match else None
        return tags


# --------------------------------------------------------------------------- served records


@dataclass(frozen=True)
class Descriptor:
    """A blob or manifest reference as a manifest names it."""

    digest: str
    size: int | None
    media_type: str | None


@dataclass(frozen=True)
class ChildManifest:
    """One entry of a served manifest list / OCI index, with the child as served."""

    digest: str
    size: int
    media_type: str
    platform: dict[str, str]
    image: PushedImage


@dataclass(frozen=True)
class PushedImage:
    """What a registry serves for ``repository:tag`` right after a push.

    ``digest`` is the manifest's digest as the registry names it: the sha256 of the
    served bytes, except for signed schema 1 where it is taken over the payload
    without signatures; ``bytes_digest`` is always the sha256 of the served bytes and
    ``header_digest`` the ``Docker-Content-Digest`` header.

    For schema 1 manifests ``config`` is ``None``, ``layers`` are the ``fsLayers``
    in base-to-top order (sizes and media types unknown), and ``config_json`` is the
    parsed ``v1Compatibility`` of the top history entry.
    """

    host: str
    repository: str
    tag: str | None
    manifest: bytes
    media_type: str
    digest: str
    bytes_digest: str
    header_digest: str | None
    config: Descriptor | None
    config_json: dict[str, Any] | None
    layers: tuple[Descriptor, ...]
    children: tuple[ChildManifest, ...] = ()
    schema1_signed: bool = False

    @property
    def is_list(self) -> bool:
        return self.media_type in LIST_MEDIA_TYPES

    @property
    def config_digest(self) -> str | None:
        return self.config.digest if self.config else None

    @property
    def config_size(self) -> int | None:
        return self.config.size if self.config else None

    @property
    def manifest_json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.manifest)
        return parsed

    @property
    def pull_spec(self) -> str:
        """``host/repo:tag`` (or ``host/repo@digest`` when there is no tag)."""
        if self.tag:
            return f"{self.host}/{self.repository}:{self.tag}"
        return self.by_digest

    @property
    def by_digest(self) -> str:
        return f"{self.host}/{self.repository}@{self.digest}"


def describe(
    client: RegistryClient,
    host: str,
    repository: str,
    reference: str,
    *,
    accept: str = ACCEPT_ALL,
    fetch_config: bool = True,
) -> PushedImage:
    """Fetch what the registry serves for ``repository:reference`` and record it."""
    data, media_type, header_digest = client.get_manifest(repository, reference, accept)
    manifest = json.loads(data)
    media_type = media_type or manifest.get("mediaType", "")
    tag = None if reference.startswith("sha256:") else reference
    common: dict[str, Any] = {
        "host": host,
        "repository": repository,
        "tag": tag,
        "manifest": data,
        "media_type": media_type,
        "digest": manifest_digest(data),
        "bytes_digest": sha256_digest(data),
        "header_digest": header_digest,
    }
    if media_type in LIST_MEDIA_TYPES:
        children = tuple(
            ChildManifest(
                digest=entry["digest"],
                size=entry["size"],
                media_type=entry["mediaType"],
                platform=dict(entry.get("platform", {})),
                image=describe(
                    client, host, repository, entry["digest"], fetch_config=fetch_config
                ),
            )
            for entry in manifest.get("manifests", [])
        )
        return PushedImage(**common, config=None, config_json=None, layers=(), children=children)
    if manifest.get("schemaVersion") == 1:
        layers = tuple(
            Descriptor(digest=entry["blobSum"], size=None, media_type=None)
            for entry in reversed(manifest.get("fsLayers", []))
        )
        history = manifest.get("history") or [{}]
        top = json.loads(history[0].get("v1Compatibility", "{}"))
        return PushedImage(
            **common,
            config=None,
            config_json=top,
            layers=layers,
            schema1_signed=bool(manifest.get("signatures")),
        )
    config = Descriptor(
        digest=manifest["config"]["digest"],
        size=manifest["config"]["size"],
        media_type=manifest["config"].get("mediaType"),
    )
    layers = tuple(
        Descriptor(digest=e["digest"], size=e["size"], media_type=e.get("mediaType"))
        for e in manifest.get("layers", [])
    )
    config_json = json.loads(client.get_blob(repository, config.digest)) if fetch_config else None
    return PushedImage(**common, config=config, config_json=config_json, layers=layers)


def describe_tag(registry: RegistryLike, repository: str, reference: str) -> PushedImage:
    """:func:`describe` with a fresh client for ``registry``."""
    return describe(RegistryClient.for_registry(registry), registry.host, repository, reference)


# --------------------------------------------------------------------------- skopeo


def skopeo_binary() -> str | None:
    """The path of ``skopeo`` (``$SKOPEO_BIN`` overrides), or ``None``."""
    return shutil.which(os.environ.get("SKOPEO_BIN", "skopeo"))


def skopeo_copy(
    source: str,
    destination: str,
    *,
    dest_credentials: tuple[str, str] | None = None,
    fmt: ImageFormat | None = None,
    all_images: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = SKOPEO_TIMEOUT,
) -> None:
    """Run ``skopeo copy`` to a plain-HTTP registry; raise with skopeo's output on failure."""
    binary = skopeo_binary()
    if binary is None:
        raise RuntimeError("skopeo is not installed")
    args = [binary, "--insecure-policy", "copy", "--retry-times", "0", "--dest-tls-verify=false"]
    if dest_credentials:
        args += ["--dest-creds", f"{dest_credentials[0]}:{dest_credentials[1]}"]
    else:
        args.append("--dest-no-creds")
    if fmt:
        args += ["--format", fmt]
    if all_images:
        args.append("--all")
    args += [*extra_args, source, destination]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="skopeo-") as scratch:
        # Keep skopeo away from any login state of the machine running the tests.
        env["REGISTRY_AUTH_FILE"] = str(Path(scratch) / "auth.json")
        env["TMPDIR"] = scratch
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"skopeo copy failed ({result.returncode}): {' '.join(args)}\n"
            f"{result.stdout}\n{result.stderr}"
        )


def push_layout(
    registry: RegistryLike,
    layout: Path,
    repository: str,
    tag: str,
    *,
    ref: str = "latest",
    fmt: ImageFormat | None = None,
    all_images: bool = False,
) -> PushedImage:
    """Push ``oci:<layout>:<ref>`` with skopeo and describe what the registry then serves."""
    skopeo_copy(
        f"oci:{layout}:{ref}",
        f"docker://{registry.host}/{repository}:{tag}",
        dest_credentials=registry.push_credentials,
        fmt=fmt,
        all_images=all_images,
    )
    return describe_tag(registry, repository, tag)


def push_with_skopeo(
    registry: RegistryLike,
    repository: str,
    tag: str,
    image: AnyImage,
    workdir: Path,
    *,
    fmt: ImageFormat | None = None,
) -> PushedImage:
    """Write ``image`` as an OCI layout under ``workdir`` and push it with skopeo.

    Multi-arch images are pushed with ``--all``.
    """
    layout = write_oci_layout(image, workdir / f"layout-{secrets.token_hex(4)}", ref=tag)
    return push_layout(
        registry,
        layout,
        repository,
        tag,
        ref=tag,
        fmt=fmt,
        all_images=isinstance(image, ImageIndex),
    )


# --------------------------------------------------------------------------- API pushes


def push_with_api(
    registry: RegistryLike,
    repository: str,
    tags: str | Sequence[str],
    image: AnyImage,
    *,
    fmt: Literal["oci", "v2s2"] = "oci",
    client: RegistryClient | None = None,
    describe_result: bool = True,
) -> PushedImage | None:
    """Push ``image`` with the registry API under one or more tags.

    Returns the record of the first tag as served (``None`` if ``describe_result``
    is false, which saves the read-back requests).
    """
    client = client or RegistryClient.for_registry(registry)
    tag_list = [tags] if isinstance(tags, str) else list(tags)
    for blob in image.blobs():
        client.upload_blob(repository, blob.data)
    if isinstance(image, ImageIndex):
        for child in image.images:
            data, media_type = child.manifest(fmt)
            client.put_manifest(repository, sha256_digest(data), data, media_type)
    data, media_type = image.manifest(fmt)
    for tag in tag_list:
        client.put_manifest(repository, tag, data, media_type)
    if not describe_result or not tag_list:
        return None
    return describe(client, registry.host, repository, tag_list[0])


@dataclass(frozen=True)
class TagPush:
    """The result of :func:`push_many_tags` for one tag (no read-back)."""

    repository: str
    tag: str
    digest: str
    config_digest: str
    media_type: str


UniqueBy = Literal["config", "annotation", "none"]


def push_many_tags(
    registry: RegistryLike,
    repository: str,
    tags: Sequence[str] | int,
    *,
    fmt: Literal["oci", "v2s2"] = "oci",
    unique: UniqueBy = "config",
    shared_layers: Sequence[Layer] | None = None,
    workers: int = 4,
    labels: Mapping[str, str] | None = None,
    env: Sequence[str] | None = None,
) -> list[TagPush]:
    """Push many tags fast with the registry API, all sharing the same layers.

    ``tags`` is a list of tag names or a count (tags ``tag-0000``...). ``unique``
    says how each tag gets its own manifest digest:

    * ``"config"``: its own image config (label ``test.tag=<tag>``, a ``created``
      a minute apart): a config upload and a manifest PUT per tag;
    * ``"annotation"`` (OCI only): one shared config, the manifest carries the
      annotation ``org.opencontainers.image.version=<tag>``: one PUT per tag;
    * ``"none"``: every tag points at the same manifest: one PUT per tag.

    ``labels`` and ``env`` go into every config (with ``"config"``, next to
    the tag's own label), for images as large as real ones.
    """
    if unique == "annotation" and fmt != "oci":
        raise ValueError("annotation-unique manifests need the OCI format")
    tag_list = [f"tag-{i:04d}" for i in range(tags)] if isinstance(tags, int) else list(tags)
    layers = tuple(shared_layers) if shared_layers is not None else (random_layer(),)
    client = RegistryClient.for_registry(registry)
    for layer in layers:
        client.upload_blob(repository, layer.data)
    base_time = datetime(2024, 1, 1, tzinfo=UTC)
    config: dict[str, Any] = {"env": tuple(env)} if env is not None else {}
    shared = build_image(layers=layers, created=base_time, labels=labels, **config)
    if unique != "config":
        client.upload_blob(repository, shared.config.data)

    def put_one(item: tuple[int, str]) -> TagPush:
        index, tag = item
        if unique == "config":
            image = build_image(
                layers=layers,
                labels={**(labels or {}), "test.tag": tag},
                created=base_time + timedelta(minutes=index),
                **config,
            )
            client.upload_blob(repository, image.config.data, check_exists=False)
        elif unique == "annotation":
            image = Image(
                shared.config,
                shared.layers,
                shared.platform,
                {"org.opencontainers.image.version": tag},
            )
        else:
            image = shared
        data, media_type = image.manifest(fmt)
        digest = client.put_manifest(repository, tag, data, media_type)
        return TagPush(repository, tag, digest, image.config.digest, media_type)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(put_one, enumerate(tag_list)))


def delete_tag(registry: RegistryLike, repository: str, tag: str) -> str:
    """Delete the manifest ``repository:tag`` points at; return its digest.

    The registry deletes by digest only, and deleting a manifest also removes every
    other tag of that repository pointing at the same digest.
    """
    client = RegistryClient.for_registry(registry)
    digest = client.manifest_digest(repository, tag)
    client.delete_manifest(repository, digest)
    return digest


def delete_blob(registry: RegistryLike, repository: str, digest: str) -> None:
    """Remove blob ``digest`` from ``repository``; manifests naming it stay, as served.

    The registry then answers ``404 BLOB_UNKNOWN`` for it, as for a config
    never uploaded or garbage-collected.
    """
    RegistryClient.for_registry(registry).delete_blob(repository, digest)


def repush_tag(
    registry: RegistryLike,
    repository: str,
    tag: str,
    image: AnyImage | None = None,
    *,
    fmt: Literal["oci", "v2s2"] = "oci",
) -> PushedImage:
    """Point ``repository:tag`` at new content (a fresh random image by default)."""
    result = push_with_api(registry, repository, tag, image or build_image(), fmt=fmt)
    assert result is not None
    return result
