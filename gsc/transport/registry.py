"""A small client of the registry protocol (OCI distribution / Docker registry v2) on
``requests``: pull manifests and blobs (every byte checked against its digest), push blobs
and a manifest (the manifest last, so a tag never names a half-pushed image).

Authentication answers the registry's ``WWW-Authenticate`` challenge: ``Bearer`` (a token
from the realm, for the repository's pull or pull,push scope, with the user's credentials
when there are any) or ``Basic``. TLS uses the system CAs (or ``Access.ca_file``);
``Access.tls_verify=False`` skips certificate checks and allows plain HTTP, as does a
loopback registry (127.0.0.0/8, localhost), like the Docker Engine does.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import requests

from gsc.errors import InputError
from gsc.image.reference import ImageRef
from gsc.transport import auth
from gsc.transport.blobs import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_DOC,
    check_bytes,
    copy_verified,
    digest_hex,
    sha256_digest,
)

TIMEOUT = (30, 300)
_ACCEPT = ", ".join(MANIFEST_TYPES + INDEX_TYPES)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Access:
    """How to reach registries: TLS verification and an extra CA file."""

    tls_verify: bool = True
    ca_file: str | None = None


DEFAULT = Access()


def configure(access: Access) -> None:
    """Set the process-wide registry access (the CLI's --tls-verify / --ca-file)."""
    global DEFAULT
    DEFAULT = access


@dataclass(frozen=True)
class RepoRef:
    registry: str      # host[:port] as addressed ("docker.io" for Docker Hub)
    repository: str    # with "library/" for Docker Hub official images
    reference: str     # tag or digest

    @property
    def endpoint(self) -> str:
        return "registry-1.docker.io" if self.registry == auth.DOCKER_HUB else self.registry

    def __str__(self) -> str:
        sep = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.registry}/{self.repository}{sep}{self.reference}"


def repo_ref(text: str) -> RepoRef:
    ref = ImageRef.parse(text)
    if ref.is_id:
        raise InputError(f"docker://{text}: a registry reference needs a repository name")
    registry = ref.registry or auth.DOCKER_HUB
    repository = ref.repository
    if registry == auth.DOCKER_HUB and "/" not in repository:
        repository = "library/" + repository
    if ref.digest is not None:
        digest_hex(ref.digest, "reference digest")
    return RepoRef(registry, repository, ref.digest or ref.tag or "latest")


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Client:
    """One repository of one registry."""

    def __init__(self, ref: RepoRef, access: Access | None = None, *, push: bool = False
                 ) -> None:
        self.ref = ref
        self.access = access or DEFAULT
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "gsc"
        verify: bool | str = self.access.ca_file or True
        if not self.access.tls_verify:
            verify = False
            import urllib3

            # The user asked for it (--tls-verify=false); one warning per request is noise.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.session.verify = verify
        self._verify = verify  # passed on every request: REQUESTS_CA_BUNDLE must not win
        self.scope = f"repository:{ref.repository}:{'pull,push' if push else 'pull'}"
        self._auth: str | None = None
        self._creds_loaded = False
        self._creds: auth.Credentials | None = None
        self._base = self._probe()

    # ------------------------------------------------------------------ plumbing
    def _where(self) -> str:
        return f"registry {self.ref.registry}"

    def _probe(self) -> str:
        """The base URL: https, or http when allowed and https does not answer."""
        host = self.ref.endpoint
        schemes = ["https"]
        if not self.access.tls_verify or _loopback(host):
            schemes.append("http")
        last: Exception | None = None
        for scheme in schemes:
            base = f"{scheme}://{host}/v2/"
            try:
                self.session.get(base, timeout=TIMEOUT, verify=self._verify).close()
                return base
            except requests.exceptions.SSLError as exc:
                last = exc
                if scheme == "https" and "http" in schemes and "wrong version" in str(exc):
                    continue
                raise InputError(f"{self._where()}: TLS: {_short(exc)} (a private CA: "
                                 "--ca-file; a test registry: --tls-verify=false)") from None
            except requests.exceptions.RequestException as exc:
                last = exc
        raise InputError(f"{self._where()}: cannot connect: {_short(last)}")

    def _credentials(self) -> auth.Credentials | None:
        if not self._creds_loaded:
            self._creds = auth.lookup(self.ref.registry)
            self._creds_loaded = True
        return self._creds

    def _authenticate(self, challenge: str) -> None:
        scheme, _, params = challenge.partition(" ")
        fields = dict(_CHALLENGE.findall(params))
        creds = self._credentials()
        if scheme.lower() == "basic":
            if creds is None:
                raise InputError(f"{self._where()}: authentication required (no credentials "
                                 f"for {self.ref.registry} in {auth.config_path()})")
            self._auth = _basic(creds)
            return
        if scheme.lower() != "bearer" or "realm" not in fields:
            raise InputError(f"{self._where()}: unsupported authentication {scheme!r}")
        query = {"scope": self.scope}
        if fields.get("service"):
            query["service"] = fields["service"]
        headers = {"Authorization": _basic(creds)} if creds is not None else {}
        try:
            res = self.session.get(fields["realm"], params=query, headers=headers,
                                   timeout=TIMEOUT, verify=self._verify)
        except requests.exceptions.RequestException as exc:
            raise InputError(f"{self._where()}: token service: {_short(exc)}") from None
        if res.status_code in (401, 403):
            raise InputError(f"{self._where()}: authentication failed (token service "
                             f"answered {res.status_code})")
        if res.status_code != 200:
            raise InputError(f"{self._where()}: token service answered {res.status_code}")
        try:
            doc = res.json()
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise InputError(f"{self._where()}: token service gave no token")
        self._auth = f"Bearer {token}"

    def _request(self, method: str, url: str, *, stream: bool = False,
                 ok: tuple[int, ...] = (200,), **kw: Any) -> requests.Response:
        if not url.startswith(("http://", "https://")):
            url = self._base + url
        for attempt in range(2):
            headers = dict(kw.pop("headers", {}) or {})
            if self._auth is not None:
                headers["Authorization"] = self._auth
            try:
                res = self.session.request(method, url, headers=headers, stream=stream,
                                           timeout=TIMEOUT, verify=self._verify, **kw)
            except requests.exceptions.RequestException as exc:
                raise InputError(f"{self._where()}: {method} failed: {_short(exc)}") from None
            if res.status_code == 401 and attempt == 0:
                challenge = res.headers.get("WWW-Authenticate", "")
                res.close()
                if self._auth is not None and not challenge.lower().startswith("bearer"):
                    break
                self._authenticate(challenge)
                kw["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
                if "data" in kw and hasattr(kw["data"], "seek"):
                    kw["data"].seek(0)
                continue
            if res.status_code in ok:
                return res
            if res.status_code in (401, 403):
                res.close()
                raise InputError(f"{self._where()}: authentication failed or access denied "
                                 f"({res.status_code}) for {self.ref.repository}")
            detail = _error_text(res)
            res.close()
            raise InputError(f"{self._where()}: {method} {_path(url)} answered "
                             f"{res.status_code}{': ' + detail if detail else ''}")
        raise InputError(f"{self._where()}: authentication failed for {self.ref.repository}")

    # ------------------------------------------------------------------ pull
    def manifest(self, reference: str | None = None) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest or index, by tag or digest (a digest
        reference is checked against the bytes)."""
        reference = reference or self.ref.reference
        res = self._request("GET", f"{self.ref.repository}/manifests/{reference}",
                            headers={"Accept": _ACCEPT}, stream=True)
        with res:
            data = res.raw.read(MAX_DOC + 1, decode_content=True)
        if len(data) > MAX_DOC:
            raise InputError(f"{self._where()}: manifest of {reference} is too large")
        if reference.startswith("sha256:"):
            check_bytes(data, reference, "manifest")
        media = res.headers.get("Content-Type", "").split(";")[0].strip()
        return data, media, sha256_digest(data)

    def blob_bytes(self, digest: str, size: int | None = None) -> bytes:
        if size is not None and size > MAX_DOC:
            raise InputError(f"{self._where()}: document {digest} is too large")
        res = self._request("GET", f"{self.ref.repository}/blobs/{digest}", stream=True)
        with res:
            data = res.raw.read(MAX_DOC + 1, decode_content=True)
        if len(data) > MAX_DOC:
            raise InputError(f"{self._where()}: document {digest} is too large")
        return check_bytes(data, digest, "blob")

    def blob_to(self, digest: str, size: int | None, dest_dir: str) -> str:
        res = self._request("GET", f"{self.ref.repository}/blobs/{digest}", stream=True)
        with res:
            return copy_verified(lambda n: res.raw.read(n, decode_content=True), dest_dir,
                                 digest, size, "blob")

    # ------------------------------------------------------------------ push
    def has_blob(self, digest: str) -> bool:
        res = self._request("HEAD", f"{self.ref.repository}/blobs/{digest}", ok=(200, 404))
        res.close()
        return res.status_code == 200

    def push_blob(self, digest: str, size: int, opener: Any) -> None:
        if self.has_blob(digest):
            return
        res = self._request("POST", f"{self.ref.repository}/blobs/uploads/", ok=(202,))
        res.close()
        location = res.headers.get("Location")
        if not location:
            raise InputError(f"{self._where()}: upload started without a Location")
        if location.startswith("/"):
            location = self._base[: self._base.index("/v2/")] + location
        sep = "&" if "?" in location else "?"
        with opener() as f:
            res = self._request("PUT", f"{location}{sep}digest={digest}", ok=(201,),
                                data=f, headers={"Content-Type": "application/octet-stream"})
        res.close()

    def push_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        res = self._request("PUT", f"{self.ref.repository}/manifests/{reference}",
                            ok=(201, 200), data=data, headers={"Content-Type": media_type})
        res.close()
        ours = sha256_digest(data)
        theirs = res.headers.get("Docker-Content-Digest")
        if theirs and theirs != ours:
            raise InputError(f"{self._where()}: stored manifest digest {theirs}, ours {ours}")
        return ours

    def close(self) -> None:
        self.session.close()


def _basic(creds: auth.Credentials) -> str:
    import base64

    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    return f"Basic {token}"


def _short(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else "no answer"
    text = text.splitlines()[0] if text else type(exc).__name__
    return text[:300]


def _path(url: str) -> str:
    return url.split("/v2/", 1)[-1].split("?", 1)[0]


def _error_text(res: requests.Response) -> str:
    try:
        errors = res.json().get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("code") or "")[:200]
    except (ValueError, AttributeError):
        pass
    return ""
