"""One registry over HTTP: scheme choice, the token and Basic auth flows, retries, blob streams.

Every request goes through `send`, which adds the Authorization its scope needs (a cached
Bearer token, or Basic), answers a 401 by fetching a fresh token once, and retries transport
errors, 429 and 5xx with exponential backoff. Redirects are followed by hand so credentials
are sent only to the registry's own origin, never to the blob storage it redirects to.
Error messages name the method and the URL without its query (upload URLs carry state);
no credential or token is ever put in one.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

# httpx imports its own command-line tool on import when rich and pygments are installed (~60 ms
# of a cold start); bilge never runs it, and httpx is built to do without it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpcore
import httpx

from ..errors import BilgeError, InvalidInput
from .auth import Credentials

HUB_DOMAINS = {"docker.io", "index.docker.io"}
HUB_ENDPOINT = "registry-1.docker.io"
ATTEMPTS = 4
BACKOFF = 0.5
MAX_REDIRECTS = 5
CHUNK = 1 << 20
# httpcore receives 64 KiB per read, so a 50 MB layer passes 800 times through h11's and
# httpcore's Python layers. Reads of up to 1 MiB (the class attribute is httpcore's own knob)
# took receiving and hashing a 50 MB blob on loopback from 0.14 s of CPU to 0.08 s.
httpcore.HTTP11Connection.READ_NUM_BYTES = CHUNK
_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


class RegistryError(BilgeError):
    """The registry refused or failed a request."""


class AuthError(RegistryError):
    """Credentials are missing, wrong, or do not grant the access asked for."""


class Cancelled(BilgeError):
    """The operation was interrupted (ctrl-C) while a transfer was running."""


def endpoint_host(domain: str) -> str:
    """Where a reference's domain is served: Docker Hub's API host differs from its name."""
    return HUB_ENDPOINT if domain in HUB_DOMAINS else domain


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1, with or without a port ([::1]:5000)."""
    if host.startswith("["):
        name = host[1 : host.find("]")]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plain_http_allowed(host: str, insecure: bool) -> bool:
    """Loopback always (as Docker does), else --insecure or $BILGE_INSECURE_REGISTRIES."""
    configured = {h.strip() for h in os.environ.get("BILGE_INSECURE_REGISTRIES", "").split(",") if h.strip()}
    return insecure or is_loopback(host) or host in configured


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): (m[2] if m[2] is not None else m[3]) for m in _PARAM_RE.finditer(rest)}
    return scheme.lower(), params


def scope(path: str, *actions: str) -> str:
    """A token scope; join several with spaces to ask for them in one token."""
    return f"repository:{path}:{','.join(actions)}"


def _short_url(url: httpx.URL | str) -> str:
    return str(httpx.URL(str(url)).copy_with(query=None))


def _registry_message(resp: httpx.Response) -> str:
    """The registry's own words from an error body ({"errors":[{code,message}]}), if any."""
    try:
        body = resp.read()[:65536]
        errors = json.loads(body).get("errors") or []
        parts = [
            f"{e.get('code', '').lower()}: {e.get('message', '')}".strip(": ") for e in errors if isinstance(e, dict)
        ]
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError, httpx.HTTPError):
        pass
    return resp.reason_phrase or "error"


@dataclass
class _Auth:
    """What the registry's challenge asked for, and the tokens fetched per scope."""

    scheme: str = ""
    params: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """A client for one registry host; thread-safe, so layers can move concurrently."""

    def __init__(
        self,
        domain: str,
        credentials: Credentials | None = None,
        insecure: bool = False,
        cancel: threading.Event | None = None,
    ) -> None:
        self.host = endpoint_host(domain)
        self.credentials = credentials
        self.cancel = cancel or threading.Event()
        self._plain_ok = plain_http_allowed(self.host, insecure)
        self._tls = httpx.create_ssl_context(verify=not self._plain_ok)  # made once, shared by forked children
        self.http = self._new_http()
        self._inherited: list[httpx.Client] = []
        self.base = f"https://{self.host}"
        self._auth = _Auth()
        self._pinged = False
        self._ping_lock = threading.Lock()

    def _new_http(self) -> httpx.Client:
        return httpx.Client(
            timeout=httpx.Timeout(60.0, connect=15.0),
            follow_redirects=False,
            verify=self._tls,
            headers={"User-Agent": "bilge/0.1", "Docker-Distribution-API-Version": "registry/2.0"},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    def after_fork(self) -> None:
        """In a forked child: connections of its own. The parent's stay open and untouched here
        (closing them could end the parent's TLS sessions); the token cache carries over."""
        self._inherited.append(self.http)
        self.http = self._new_http()
        self._auth.lock = threading.Lock()
        self._ping_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        """An API URL; the first call pings, which settles the scheme."""
        self.ping()
        return f"{self.base}/v2/{path}"

    # -- connecting and authenticating ---------------------------------------------------------

    def ping(self) -> None:
        """GET /v2/ once: picks https or (where allowed) http, and learns how to authenticate."""
        with self._ping_lock:
            if not self._pinged:
                self._ping()

    def _ping(self) -> None:
        for scheme in ("https", "http") if self._plain_ok else ("https",):
            self.base = f"{scheme}://{self.host}"
            root = f"{self.base}/v2/"
            if scheme == "https" and self._plain_ok:
                try:  # one probe: a plain-HTTP registry fails the TLS handshake at once
                    resp = self.http.get(root)
                except httpx.TransportError:
                    continue
            else:
                resp = self._with_retries("GET", root, partial(self.http.get, root))
            break
        if resp.status_code == 401:
            self._auth.scheme, self._auth.params = parse_challenge(resp.headers.get("www-authenticate", ""))
        elif resp.status_code != 200:
            raise RegistryError(f"{self.host} does not speak the registry API v2 (GET /v2/: {resp.status_code})")
        self._pinged = True

    def _basic(self) -> str:
        if self.credentials is None:
            raise AuthError(f"{self.host}: authentication required (run bilge login {self.host})")
        raw = f"{self.credentials.username}:{self.credentials.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def authorization(self, wanted: str | None, refresh: bool = False) -> str | None:
        """The Authorization header for a scope, fetching a token when the registry wants one."""
        if self._auth.scheme == "basic":
            return self._basic()
        if self._auth.scheme != "bearer":
            return None
        key = wanted or ""
        with self._auth.lock:
            if refresh:
                self._auth.tokens.pop(key, None)
            if key not in self._auth.tokens:
                self._auth.tokens[key] = self._fetch_token(wanted)
            return "Bearer " + self._auth.tokens[key]

    def _fetch_token(self, wanted: str | None) -> str:
        realm = self._auth.params.get("realm")
        if not realm:
            raise AuthError(f"{self.host}: Bearer challenge without a realm")
        params: dict[str, str | list[str]] = {"service": self._auth.params.get("service", "")}
        if wanted:
            params["scope"] = wanted.split()  # several scopes: a cross-repository mount
        headers = {}
        if self.credentials is not None:
            params["account"] = self.credentials.username
            headers["Authorization"] = self._basic()
        resp = self._with_retries("GET", realm, lambda: self.http.get(realm, params=params, headers=headers))
        if resp.status_code in (401, 403):
            raise AuthError(
                f"{self.host}: authentication failed: {_registry_message(resp) if resp.content else 'unauthorized'}"
            )
        if resp.status_code != 200:
            raise AuthError(f"{self.host}: token endpoint answered {resp.status_code}")
        try:
            doc = resp.json()
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise AuthError(f"{self.host}: token endpoint gave no token")
        return token

    def login_check(self) -> None:
        """Prove the credentials work: Basic on /v2/, or a token fetched with them."""
        self.ping()
        if self._auth.scheme == "bearer":
            self._fetch_token(None)
        elif self._auth.scheme == "basic":
            resp = self._with_retries(
                "GET", self.url(""), lambda: self.http.get(self.url(""), headers={"Authorization": self._basic()})
            )
            if resp.status_code != 200:
                raise AuthError(f"{self.host}: authentication failed: {_registry_message(resp)}")

    # -- requests ------------------------------------------------------------------------------

    def _with_retries(self, method: str, url: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        """Transport errors, 429 and 5xx are retried with backoff; anything else is returned."""
        for attempt in range(1, ATTEMPTS + 1):
            if self.cancel.is_set():
                raise Cancelled("interrupted")
            try:
                resp = call()
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS:
                    raise RegistryError(
                        f"{method} {_short_url(url)}: {type(exc).__name__}: {exc} (after {ATTEMPTS} attempts)"
                    ) from None
            else:
                if resp.status_code < 500 and resp.status_code != 429:
                    return resp
                if attempt == ATTEMPTS:
                    reason = _registry_message(resp)
                    resp.close()
                    raise RegistryError(
                        f"{method} {_short_url(url)}: {resp.status_code} {reason} (after {ATTEMPTS} attempts)"
                    )
                resp.close()
            time.sleep(BACKOFF * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    def send(
        self,
        method: str,
        url: str,
        wanted: str | None,
        *,
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
        content: bytes | Iterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One API request with auth, retries and same-origin-only credentials on redirects.

        Answers outside `ok` become a RegistryError (AuthError for 401/403); a 404 HEAD is
        returned, since "not there" is an answer.
        """
        if params:  # merged by hand: httpx would replace the query an upload URL already has
            url = str(httpx.URL(url).copy_merge_params(params))
        refreshed = False
        hops = 0
        while True:
            auth = self.authorization(wanted, refresh=refreshed) if self._same_origin(url) else None
            hdrs = dict(headers or {})
            if auth:
                hdrs["Authorization"] = auth
            request = self.http.build_request(method, url, headers=hdrs, content=content)
            resp = self._with_retries(method, url, partial(self.http.send, request, stream=stream))
            if resp.status_code == 401 and not refreshed and self._auth.scheme == "bearer":
                resp.close()
                refreshed = True
                continue
            if resp.status_code in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                location = resp.headers.get("location")
                resp.close()
                hops += 1
                if not location or hops > MAX_REDIRECTS:
                    raise RegistryError(f"{method} {_short_url(url)}: too many or bad redirects")
                url = str(httpx.URL(url).join(location))
                continue
            if resp.status_code in ok or (method == "HEAD" and resp.status_code == 404):
                return resp
            self._fail(method, url, resp)

    def _same_origin(self, url: str) -> bool:
        return (
            httpx.URL(url).netloc.decode() == httpx.URL(self.base).netloc.decode()
            and httpx.URL(url).scheme == httpx.URL(self.base).scheme
        )

    def _fail(self, method: str, url: str, resp: httpx.Response) -> None:
        reason = _registry_message(resp)
        resp.close()
        where = f"{method} {_short_url(url)}"
        if resp.status_code in (401, 403):
            raise AuthError(f"{where}: {resp.status_code} {reason}")
        raise RegistryError(f"{where}: {resp.status_code} {reason}")

    # -- reading -------------------------------------------------------------------------------

    def get_small(self, path: str, wanted: str, accept: str | None, cap: int) -> tuple[bytes, str]:
        """A manifest or config: (body, content type), refusing bodies larger than `cap`."""
        headers = {"Accept": accept} if accept else None
        resp = self.send("GET", self.url(path), wanted, stream=True, headers=headers)
        try:
            body = bytearray()
            for chunk in resp.iter_raw(CHUNK):
                body += chunk
                if len(body) > cap:
                    raise InvalidInput(f"{_short_url(resp.url)}: larger than the limit of {cap} bytes")
        except httpx.TransportError as exc:
            raise RegistryError(f"GET {_short_url(resp.url)}: {type(exc).__name__}: {exc}") from None
        finally:
            resp.close()
        return bytes(body), resp.headers.get("content-type", "").split(";")[0].strip()

    def open_blob(self, repo: str, digest: str, wanted: str, offset: int) -> httpx.Response:
        headers = {"Range": f"bytes={offset}-"} if offset else None
        return self.send("GET", self.url(f"{repo}/blobs/{digest}"), wanted, stream=True, ok=(200, 206), headers=headers)

    def blob_exists(self, repo: str, digest: str, wanted: str) -> bool:
        resp = self.send("HEAD", self.url(f"{repo}/blobs/{digest}"), wanted)
        resp.close()
        return resp.status_code == 200
