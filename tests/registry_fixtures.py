"""Registries for the pull/push tests: Debian's real `docker-registry` on loopback, filled by
an independent tool (skopeo), plain, behind htpasswd Basic auth, and behind token auth with a
token endpoint of our own; and a fault-injecting HTTP proxy to put in front of any of them.

Loaded from conftest.py as a plugin. Every registry keeps its storage and log in pytest's tmp
dir and listens on 127.0.0.1 at a free port; nothing here touches another address.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import importlib
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import pytest
from components import fail_or_skip, require

USER = "alice"
PASSWORD = "correct horse battery staple"
SERVICE = "bilge-test-registry"
ISSUER = "bilge-test-issuer"


def need_module(name: str, why: str) -> ModuleType:
    """Import `name`; skip without it, but fail under CI, where the test extra must provide it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        fail_or_skip(f"python module {name} missing: needed {why}", "pip install -e '.[test]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    """A running docker-registry: `host` is what goes in references (127.0.0.1:PORT)."""

    host: str
    root: Path
    log: Path
    creds: str | None = None

    def ref(self, name: str) -> str:
        return f"{self.host}/{name}"

    def skopeo(self, *args: str) -> subprocess.CompletedProcess:
        """skopeo with this registry's credentials and no TLS (it is plain HTTP on loopback)."""
        cmd = [require("skopeo", "to fill and read the test registry"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}"
        return proc

    def _creds(self, flag: str) -> list[str]:
        return [flag, self.creds] if self.creds else []

    def copy_in(self, source: str, name: str, *extra: str) -> None:
        self.skopeo(
            "copy",
            "-q",
            "--dest-tls-verify=false",
            *self._creds("--dest-creds"),
            *extra,
            source,
            f"docker://{self.ref(name)}",
        )

    def inspect(self, name: str, *extra: str) -> dict:
        out = self.skopeo(
            "inspect", "--tls-verify=false", *self._creds("--creds"), *extra, f"docker://{self.ref(name)}"
        )
        return json.loads(out.stdout)

    def raw_manifest(self, name: str) -> bytes:
        return self.skopeo(
            "inspect", "--tls-verify=false", "--raw", *self._creds("--creds"), f"docker://{self.ref(name)}"
        ).stdout.encode()


def _wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"docker-registry exited {proc.returncode}:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"docker-registry not listening in 20 s:\n{log.read_text()[-3000:]}", pytrace=False)


@pytest.fixture(scope="session")
def start_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Registry]]:
    """`start_registry(name, auth_yaml="", creds=None)`: a private registry, stopped at session end."""
    exe = "/usr/bin/docker-registry"
    if not Path(exe).exists():
        exe = require("docker-registry", "for pull and push tests")
    procs: list[subprocess.Popen] = []

    def start(name: str, auth_yaml: str = "", creds: str | None = None) -> Registry:
        base = tmp_path_factory.mktemp(f"registry-{name}")
        port = free_port()
        (base / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n{auth_yaml}"
        )
        log = base / "registry.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [exe, "serve", str(base / "config.yml")],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        procs.append(proc)
        _wait_listening(port, proc, log)
        return Registry(f"127.0.0.1:{port}", base, log, creds)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def docker_archive(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture `docker save` archive, un-gzipped: skopeo's docker-archive reads plain tar."""
    out = tmp_path_factory.mktemp("archive") / "images.tar"
    with gzip.open(fixtures_dir / "docker" / "images.tar.gz") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return out


@pytest.fixture(scope="session")
def registry(start_registry, docker_archive: Path, fixtures_dir: Path) -> Registry:
    """An anonymous registry holding the fixture images (Docker schema 2, gzip), put there by skopeo."""
    reg = start_registry("plain")
    for name in ("busybox:latest", "zoo:latest", "app:v1"):
        reg.copy_in(f"docker-archive:{docker_archive}:{name}", f"fixtures/{name}")
    reg.copy_in(f"oci:{fixtures_dir / 'oci' / 'multiarch'}:multi", "multi:latest", "--all")
    return reg


@pytest.fixture(scope="session")
def zstd_registry(start_registry, docker_archive: Path) -> Registry:
    """A registry of its own for the zstd image: skopeo would otherwise reuse gzip blobs it
    already pushed (and then write an OCI manifest with a converted config)."""
    reg = start_registry("zstd")
    reg.copy_in(f"docker-archive:{docker_archive}:app:v2", "zstd/app:v2", "--dest-compress-format", "zstd")
    return reg


@pytest.fixture(scope="session")
def htpasswd_registry(start_registry, docker_archive: Path) -> Registry:
    """Basic auth (`auth: htpasswd`, a bcrypt entry as the registry requires) holding busybox."""
    bcrypt = need_module("bcrypt", "to make the registry's htpasswd file")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    htpasswd_dir = Path(docker_archive.parent) / "htpasswd"
    htpasswd_dir.mkdir(exist_ok=True)
    (htpasswd_dir / "htpasswd").write_text(f"{USER}:{hashed}\n")
    reg = start_registry(
        "htpasswd",
        f"auth:\n  htpasswd:\n    realm: bilge-test\n    path: {htpasswd_dir / 'htpasswd'}\n",
        creds=f"{USER}:{PASSWORD}",
    )
    reg.copy_in(f"docker-archive:{docker_archive}:busybox:latest", "private/busybox:latest")
    return reg


# -- token auth ---------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    """Signs registry JWTs (RS256, x5c) the way a Docker token service does.

    Anonymous callers get `pull` on `public/*`; `alice` with the right password gets what she
    asks for; a wrong password gets 401. `requests` records (account, scopes, had_auth).
    """

    key: object
    cert_der: bytes
    requests: list[tuple[str | None, list[str], bool]] = field(default_factory=list)

    def grant(self, scopes: list[str], user: str | None) -> list[dict]:
        access = []
        for item in scopes:
            kind, _, rest = item.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            allowed = wanted if user == USER else [a for a in wanted if a == "pull" and name.startswith("public/")]
            if kind == "repository" and allowed:
                access.append({"type": "repository", "name": name, "actions": allowed})
        return access

    def token(self, scopes: list[str], user: str | None) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": SERVICE,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": self.grant(scopes, user),
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]
        return f"{signing_input}.{_b64url(signature)}"


def _self_signed(directory: Path) -> tuple[object, bytes, Path]:
    """An RSA key and a self-signed certificate for it (the registry's rootcertbundle)."""
    need_module("cryptography", "to sign the test token service's JWTs")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    bundle = directory / "token-ca.pem"
    bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert.public_bytes(serialization.Encoding.DER), bundle


def _serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


@pytest.fixture(scope="session")
def token_registry(
    start_registry, docker_archive: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Registry, TokenIssuer]]:
    """A registry with `auth: token`, trusting our issuer, and its token endpoint."""
    directory = tmp_path_factory.mktemp("token")
    key, cert_der, bundle = _self_signed(directory)
    issuer = TokenIssuer(key, cert_der)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            user = None
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if (name, password) != (USER, PASSWORD):
                    issuer.requests.append((name, query.get("scope", []), True))
                    self._reply(
                        401, {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]}
                    )
                    return
                user = name
            issuer.requests.append((user, query.get("scope", []), bool(header)))
            token = issuer.token(query.get("scope", []), user)
            self._reply(200, {"token": token, "access_token": token, "expires_in": 600})

        def _reply(self, status: int, doc: dict) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    _serve(server)
    realm = f"http://127.0.0.1:{server.server_address[1]}/token"
    reg = start_registry(
        "token",
        f"auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
        f"    rootcertbundle: {bundle}\n",
        creds=f"{USER}:{PASSWORD}",
    )
    reg.copy_in(f"docker-archive:{docker_archive}:busybox:latest", "public/busybox:latest")
    reg.copy_in(f"docker-archive:{docker_archive}:app:v1", "private/app:v1")
    yield reg, issuer
    server.shutdown()


# -- a fault-injecting proxy ------------------------------------------------------------------


@dataclass
class Faults:
    """What the proxy does to responses; each rule is keyed by a substring of the path."""

    drop_after: dict[str, int] = field(default_factory=dict)  # send N body bytes, then cut (once)
    corrupt: set[str] = field(default_factory=set)  # flip bytes, keep the length
    fail: dict[str, int] = field(default_factory=dict)  # answer 500 for every matching request
    throttle: float = 0.0  # seconds to sleep between 64 KiB body chunks of blobs
    dribble: int = 0  # send blob bodies in writes of this many bytes, each on its own
    manifest_type: str | None = None  # a Content-Type to serve manifests with instead of theirs
    redirect_blobs: bool = False  # answer blob GETs with a 307 to another origin (localhost)
    direct_auth: list[str | None] = field(default_factory=list)  # Authorization seen there
    log: list[tuple[str, str, int, str]] = field(default_factory=list)  # method, path, status, range
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, method: str, needle: str) -> int:
        return sum(1 for m, p, _, _ in self.log if m == method and needle in p)


@dataclass
class Proxy:
    host: str
    faults: Faults


def _start_proxy(upstream: str, upstream_auth: str | None) -> tuple[ThreadingHTTPServer, Faults]:
    """A forwarding proxy; `upstream_auth` is what it sends itself on the redirect target,
    standing in for blob storage's own (pre-signed URL) authorisation."""
    faults = Faults()
    up_host, up_port = upstream.rsplit(":", 1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _redirect(self) -> bool:
            if not (
                faults.redirect_blobs
                and self.command == "GET"
                and self.path.startswith("/v2/")
                and "/blobs/sha256:" in self.path
            ):
                return False
            port = self.server.server_address[1]
            self.send_response(307)
            self.send_header("Location", f"http://localhost:{port}/direct{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self._redirect():
                return
            path = self.path
            if path.startswith("/direct/"):
                path = path[len("/direct") :]
                with faults.lock:
                    faults.direct_auth.append(self.headers.get("Authorization"))
                del self.headers["Authorization"]
                if upstream_auth:
                    self.headers["Authorization"] = upstream_auth
            with faults.lock:
                failing = next((k for k in faults.fail if k in self.path), None)
            if failing is not None:
                with faults.lock:
                    faults.fail[failing] += 1
                    faults.log.append((self.command, self.path, 500, ""))
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            conn = http.client.HTTPConnection(up_host, int(up_port), timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            conn.request(self.command, path, body=body, headers=headers)  # Host kept: Locations point here
            resp = conn.getresponse()
            with faults.lock:
                faults.log.append((self.command, self.path, resp.status, self.headers.get("Range", "")))
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() == "content-type" and faults.manifest_type and "/manifests/" in path:
                    v = faults.manifest_type
                if k.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                    self.send_header(k, v)
            if resp.getheader("Content-Length") is None:
                self.close_connection = True  # the body ends when the connection does
            self.end_headers()
            if self.command != "HEAD":
                self._body(resp)
            conn.close()

        def _body(self, resp: http.client.HTTPResponse) -> None:
            blob = "/blobs/sha256:" in self.path
            with faults.lock:
                cut_key = next((k for k in faults.drop_after if k in self.path), None) if blob else None
                cut = faults.drop_after.pop(cut_key) if cut_key is not None else None
                corrupt = blob and any(k in self.path for k in faults.corrupt)
            sent = 0
            while True:
                chunk = resp.read(65536)
                if not chunk:
                    return
                if corrupt:
                    chunk = bytes(b ^ 0x5A for b in chunk)
                if cut is not None and sent + len(chunk) >= cut:
                    self.wfile.write(chunk[: cut - sent])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                step = faults.dribble if blob and faults.dribble else len(chunk)
                for i in range(0, len(chunk), step):
                    self.wfile.write(chunk[i : i + step])
                    self.wfile.flush()
                    if step < len(chunk):
                        time.sleep(0.0005)  # let each piece arrive on its own
                sent += len(chunk)
                if blob and faults.throttle:
                    time.sleep(faults.throttle)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    _serve(server)
    return server, faults


@pytest.fixture
def proxy_for() -> Iterator[Callable[[Registry], Proxy]]:
    """`proxy_for(registry)`: a fault proxy in front of it, stopped after the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(reg: Registry) -> Proxy:
        upstream_auth = "Basic " + base64.b64encode(reg.creds.encode()).decode() if reg.creds else None
        server, faults = _start_proxy(reg.host, upstream_auth)
        servers.append(server)
        return Proxy(f"127.0.0.1:{server.server_address[1]}", faults)

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def proxy(proxy_for, registry: Registry) -> Proxy:
    """A fresh fault proxy in front of the fixture registry (same images, its own faults)."""
    return proxy_for(registry)


@pytest.fixture
def docker_config(tmp_path: Path) -> dict:
    """A private $DOCKER_CONFIG for one test: env to pass to `bilge(...)`."""
    directory = tmp_path / "docker-config"
    directory.mkdir()
    return {"DOCKER_CONFIG": str(directory)}
