"""The Docker Registry v2 / OCI distribution conversation.

Owns what is said to a registry: the ping that finds the scheme and the auth
challenge (cached per host), the token and Basic flows with one anonymous
retry when credentials are rejected, manifest HEAD and GET with every
manifest media type accepted and digests verified, blob GET with verification,
tag listing across ``Link`` pages, and the mapping of registry answers to the
typed errors of ``imagestreams.errors``. How bytes move (addresses, TLS,
retries, redirects, caps) is the transport's.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

from urllib3.util import parse_url

from imagestreams import jsondoc
from imagestreams.credentials import Credential
from imagestreams.deadline import Deadline
from imagestreams.errors import (
    BlobUnknownError,
    ContentTooLargeError,
    IntegrityError,
    ProtocolError,
    RegistryError,
    TLSError,
    UnauthorizedError,
    UnavailableError,
)
from imagestreams.observability import logger
from imagestreams.reference import Digest, is_digest, is_tag
from imagestreams.registry import media
from imagestreams.registry.addresses import is_loopback
from imagestreams.registry.answers import Descriptor, Manifest, error_for, verify_blob
from imagestreams.registry.auth import (
    Challenge,
    TokenCache,
    basic_header,
    identity_of,
    parse_challenges,
    parse_token_response,
    pull_scope,
)
from imagestreams.registry.transport import HttpResponse, Transport
from imagestreams.telemetry import RequestKind

MANIFEST_LIMIT = 4 * 1024 * 1024
CONFIG_LIMIT = 4 * 1024 * 1024
TOKEN_LIMIT = 1024 * 1024
TAGS_PAGE_LIMIT = 4 * 1024 * 1024
ENDPOINT_TTL = 300.0
# At 50 or more tags a page, 50,000 tags or more: far past any import's tag limit.
MAX_TAG_PAGES = 1_000

_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?', re.IGNORECASE)


@dataclass(frozen=True)
class _Endpoint:
    base_url: str
    challenges: tuple[Challenge, ...]
    expires_at: float


class RegistryClient:
    """Process-wide registry client: endpoints and tokens are shared by all imports."""

    def __init__(self, transport: Transport, tokens: TokenCache | None = None) -> None:
        self.transport = transport
        self.tokens = tokens or TokenCache()
        self._endpoints: dict[tuple[str, bool], _Endpoint] = {}
        self._locks: dict[object, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lock_for(self, key: object) -> threading.Lock:
        """One lock per key, so concurrent imports ping and fetch tokens once."""
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def repository(
        self,
        host: str,
        repository: str,
        credentials: Sequence[Credential],
        *,
        insecure: bool,
        deadline: Deadline,
    ) -> RepositoryClient:
        """A client for one repository with the caller's credentials."""
        return RepositoryClient(self, host, repository, credentials, insecure, deadline)

    def endpoint(self, host: str, insecure: bool, deadline: Deadline) -> _Endpoint:
        """Ping ``host`` (once per process and TTL) to learn its scheme and challenge."""
        key = (host, insecure)
        cached = self._endpoints.get(key)
        now = time.monotonic()
        if cached and cached.expires_at > now:
            return cached
        with self.lock_for(("endpoint", key)):
            cached = self._endpoints.get(key)
            if cached and cached.expires_at > time.monotonic():
                return cached
            endpoint = self._ping(host, insecure, deadline)
            self._endpoints[key] = endpoint
            return endpoint

    def _ping(self, host: str, insecure: bool, deadline: Deadline) -> _Endpoint:
        """Find the scheme: https, or plain http where that is allowed.

        Plain http is tried only for an ``insecure`` import policy or a
        registry on loopback (as Docker treats 127.0.0.0/8), after https
        failed its handshake, or could not connect to the default port. When
        the host does not speak plain http either, the https error is reported.
        """
        try:
            return self._ping_scheme("https", host, insecure, deadline)
        except TLSError as tls_error:
            if not (insecure or self._is_loopback(host)):
                raise
            first: RegistryError = tls_error
        except UnavailableError as error:
            # Without an explicit port, http means another port (80): worth a try.
            if not (insecure and ":" not in host.rsplit("]", 1)[-1]):
                raise
            first = error
        try:
            return self._ping_scheme("http", host, insecure, deadline)
        except ProtocolError:
            # Not a plain-http registry either: the https failure explains more.
            raise first from None

    def _is_loopback(self, host: str) -> bool:
        parsed = parse_url(f"https://{host}")
        try:
            address = self.transport.policy.resolve(parsed.host or host, parsed.port or 443)
        except RegistryError:
            return False
        return is_loopback(address)

    def _ping_scheme(self, scheme: str, host: str, insecure: bool, deadline: Deadline) -> _Endpoint:
        base = f"{scheme}://{host}"
        response = self.transport.send(
            "GET",
            f"{base}/v2/",
            headers={},
            deadline=deadline,
            insecure=insecure,
            max_bytes=TOKEN_LIMIT,
            kind="ping",
        )
        if response.status == 200:
            challenges: tuple[Challenge, ...] = ()
        elif response.status == 401:
            challenges = tuple(parse_challenges(response.header("WWW-Authenticate")))
        else:
            raise error_for(response, f"{host} is not a container registry")
        return _Endpoint(base, challenges, time.monotonic() + ENDPOINT_TTL)


class RepositoryClient:
    """Talks to one repository with one caller's credentials."""

    def __init__(
        self,
        client: RegistryClient,
        host: str,
        repository: str,
        credentials: Sequence[Credential],
        insecure: bool,
        deadline: Deadline,
    ) -> None:
        self._client = client
        self._host = host
        self.repository = repository
        self._candidates: list[Credential | None] = [*credentials, None]
        self._current = 0
        self._lock = threading.Lock()
        self._insecure = insecure
        self._deadline = deadline

    # --- public operations -----------------------------------------------

    def head_manifest(self, reference: str | Digest) -> Descriptor:
        """Resolve a tag or digest with HEAD (cheap, not counted as a pull)."""
        response = self._request(
            "HEAD",
            f"manifests/{reference}",
            accept=media.ACCEPT_MANIFEST,
            max_bytes=0,
            kind="manifest-head",
        )
        if response.status != 200:
            raise error_for(response, f"manifest {reference}")
        length = response.header("Content-Length")
        return Descriptor(
            digest=response.header("Docker-Content-Digest"),
            media_type=_media_type(response.header("Content-Type")),
            size=int(length) if length and length.isdigit() else None,
        )

    def get_manifest(self, reference: str | Digest) -> Manifest:
        """GET a manifest and verify it against the digest asked for or announced.

        ``reference`` is a tag, or a :class:`Digest`: then the content must be
        that digest's, whatever the registry announces.
        """
        response = self._request(
            "GET",
            f"manifests/{reference}",
            accept=media.ACCEPT_MANIFEST,
            max_bytes=MANIFEST_LIMIT,
            kind="manifest-get",
        )
        if response.status != 200:
            raise error_for(response, f"manifest {reference}")
        raw = response.body
        media_type = media.sniff_media_type(raw, _media_type(response.header("Content-Type")))
        announced = response.header("Docker-Content-Digest")
        expected = reference if isinstance(reference, Digest) else announced
        if expected and is_digest(expected):
            algorithm = expected.split(":", 1)[0]
            actual = media.digest_of(raw, media_type, algorithm)
            if actual != expected:
                raise IntegrityError(
                    detail=(
                        f"content integrity error: the manifest retrieved with digest {expected} "
                        f"does not match the digest calculated from the content {actual}"
                    )
                )
            return Manifest(actual, media_type, raw)
        return Manifest(media.digest_of(raw, media_type), media_type, raw)

    def get_blob(self, digest: str, max_bytes: int = CONFIG_LIMIT) -> bytes:
        """GET a blob (following redirects) and verify its digest; a 404 is ``BlobUnknownError``."""
        response = self._request(
            "GET", f"blobs/{digest}", accept=("*/*",), max_bytes=max_bytes, kind="blob-get"
        )
        if response.status == 404:
            raise BlobUnknownError(detail="unknown blob", http_status=404)
        if response.status != 200:
            raise error_for(response, f"blob {digest}")
        verify_blob(response.body, digest)
        return response.body

    def list_tags(self) -> list[str]:
        """Every tag of the repository, across ``Link`` pages, deduplicated, in order served.

        A ``Link`` back to a page already read is a loop, and more than
        :data:`MAX_TAG_PAGES` pages a list without end: both fail the listing
        with :class:`ProtocolError` rather than import what was read so far.
        """
        tags: dict[str, None] = {}
        path: str | None = "tags/list"
        read: set[str] = set()
        base = self._client.endpoint(self._host, self._insecure, self._deadline).base_url
        while path is not None:
            if path in read:
                raise ProtocolError(
                    detail=f"the tag list of {self.repository} links back to a page already "
                    f"read (/v2/{self.repository}/{path})"
                )
            if len(read) == MAX_TAG_PAGES:
                raise ProtocolError(
                    detail=f"the tag list of {self.repository} has more than {MAX_TAG_PAGES} pages"
                )
            read.add(path)
            response = self._request(
                "GET",
                path,
                accept=("application/json",),
                max_bytes=TAGS_PAGE_LIMIT,
                kind="tag-list",
            )
            if response.status != 200:
                raise error_for(response, f"repository {self.repository}")
            try:
                page = jsondoc.loads(response.body)
                listed = page.get("tags") or []
            except (ValueError, AttributeError, UnicodeDecodeError):
                raise ProtocolError(detail="the tag list is not JSON") from None
            for tag in listed:
                # A name that is no tag could not be pulled, nor stored as one.
                if isinstance(tag, str) and is_tag(tag):
                    tags[tag] = None
            path = self._next_page(response, base)
        return list(tags)

    # --- the exchange ----------------------------------------------------

    def _next_page(self, response: HttpResponse, base: str) -> str | None:
        link = response.header("Link")
        match = _NEXT_LINK.search(link or "")
        if not match:
            return None
        target = urljoin(f"{base}/v2/{self.repository}/tags/list", match.group(1))
        parts, origin = urlsplit(target), urlsplit(base)
        if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
            raise ProtocolError(detail="the tag list links to another host")
        prefix = f"/v2/{self.repository}/"
        if not parts.path.startswith(prefix):
            raise ProtocolError(detail="the tag list links outside the repository")
        rest = parts.path[len(prefix) :]
        return f"{rest}?{parts.query}" if parts.query else rest

    def _request(
        self,
        method: str,
        path: str,
        *,
        accept: Sequence[str],
        max_bytes: int,
        kind: RequestKind,
    ) -> HttpResponse:
        endpoint = self._client.endpoint(self._host, self._insecure, self._deadline)
        url = f"{endpoint.base_url}/v2/{self.repository}/{path}"
        refreshed = False
        while True:
            index = self._current
            credential = self._candidates[index]
            try:
                authorization = self._authorization(
                    endpoint.challenges, credential, refresh=refreshed
                )
            except UnauthorizedError:
                if self._fall_back(index):
                    continue
                raise
            headers = {"Accept": ", ".join(accept), "User-Agent": "imagestreams"}
            if authorization:
                headers["Authorization"] = authorization
            response = self._client.transport.send(
                method,
                url,
                headers=headers,
                deadline=self._deadline,
                insecure=self._insecure,
                max_bytes=max_bytes,
                kind=kind,
            )
            if response.status == 401 and not refreshed:
                fresh = tuple(parse_challenges(response.header("WWW-Authenticate")))
                if fresh and fresh != endpoint.challenges:
                    # The registry asks for something else than the ping said.
                    endpoint = _Endpoint(endpoint.base_url, fresh, endpoint.expires_at)
                    refreshed = True
                    continue
            if response.status in (401, 403) and self._fall_back(index):
                refreshed = False
                continue
            return response

    def _fall_back(self, failed: int) -> bool:
        """Move past credential ``failed`` (finally to anonymous); False when none is left.

        Threads sharing this client move on together: only the first to see
        a credential fail advances, the others retry with what it chose.
        """
        with self._lock:
            if self._current != failed:
                return True
            if failed + 1 >= len(self._candidates):
                return False
            self._current = failed + 1
        logger.info(
            "registry rejected credentials, trying the next",
            registry=self._host,
            repository=self.repository,
            anonymous=self._candidates[failed + 1] is None,
        )
        return True

    def _authorization(
        self, challenges: Sequence[Challenge], credential: Credential | None, *, refresh: bool
    ) -> str | None:
        for challenge in challenges:
            if challenge.scheme == "bearer" and challenge.realm:
                return "Bearer " + self._token(challenge, credential, refresh)
            if challenge.scheme == "basic" and credential is not None:
                return basic_header(credential)
        return None

    def _token(self, challenge: Challenge, credential: Credential | None, refresh: bool) -> str:
        scope = pull_scope(self.repository)
        service = challenge.service or ""
        key = (challenge.realm, service, scope, identity_of(credential))
        tokens = self._client.tokens
        if not refresh and (token := tokens.get(key)):
            return token
        with self._client.lock_for(("token", key)):
            if not refresh and (token := tokens.get(key)):
                return token
            query = {"scope": scope, **({"service": service} if service else {})}
            separator = "&" if "?" in challenge.realm else "?"
            url = f"{challenge.realm}{separator}{urlencode(query)}"
            headers = {"User-Agent": "imagestreams"}
            if credential is not None:
                headers["Authorization"] = basic_header(credential)
            try:
                response = self._client.transport.send(
                    "GET",
                    url,
                    headers=headers,
                    deadline=self._deadline,
                    insecure=self._insecure,
                    max_bytes=TOKEN_LIMIT,
                    kind="token",
                )
            except ContentTooLargeError:
                raise ProtocolError(detail="the token response is too large") from None
            if response.status != 200:
                raise error_for(response, "token request")
            token_value = parse_token_response(response.body, tokens.now())
            tokens.put(key, token_value)
            return token_value.value


def _media_type(header: str | None) -> str | None:
    if not header:
        return None
    return header.split(";", 1)[0].strip() or None
