"""The sandbox's certificate authority: one CA per sandbox, serving certificates for the plan's host names.

The plan reaches the DR region over HTTPS by name (``curl https://api.kosmos.internal/health``,
``curl https://grafana.kosmos.internal/api/health``). The stand-ins serve HTTPS with certificates this
CA signs for those names (and ``localhost``/``127.0.0.1``); clients trust the CA's certificate and
nothing else changes. The CA's key stays in the daemon's memory; two public files go into the
state folder:

* ``sandbox-ca.crt``: the CA certificate alone (``curl --cacert``, a target's ``endpoints.ca_bundle``,
  ``$KOSMOS_DR_CA_BUNDLE``);
* ``sandbox-ca-bundle.crt``: the system's trusted roots plus the sandbox CA (``$CURL_CA_BUNDLE``), so a
  shell that sourced ``sandbox.env`` verifies the sandbox's names *and* still trusts public sites.

Components share the CA through ``acquire(ctx)`` / ``release(ctx)`` (counted: the last release removes
the files); ``serve_https`` adds a TLS listener to a component's aiohttp runner.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "sandbox-ca.crt"
BUNDLE_FILE = "sandbox-ca-bundle.crt"
CA_NAME = "kosmos-dr-sandbox-ca"
VALID_DAYS = 30  # a sandbox lives hours; a month covers any run
ALWAYS_NAMES = ("localhost", "127.0.0.1")  # every serving certificate also covers loopback


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name.rstrip("."))


@dataclass
class ServingCertificate:
    """A leaf certificate (and its key) for some names, with the CA that signed it."""

    names: tuple[str, ...]
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context presenting the certificate and its chain (TLS 1.2 or newer)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            cert.write_bytes(self.cert_pem + self.ca_pem)
            key.touch(0o600)
            key.write_bytes(self.key_pem)
            context.load_cert_chain(cert, key)
        return context


@dataclass
class SandboxCA:
    """A throwaway CA (EC P-256) that signs serving certificates."""

    common_name: str = CA_NAME
    days: int = VALID_DAYS
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.common_name))
            .issuer_name(_name(self.common_name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=self.days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, names: list[str] | tuple[str, ...], common_name: str | None = None) -> ServingCertificate:
        """A serving certificate for ``names`` (DNS names or IP addresses) plus localhost and 127.0.0.1."""
        wanted = [n.rstrip(".") for n in names if n] + [n for n in ALWAYS_NAMES if n not in names]
        unique = list(dict.fromkeys(wanted))
        if not unique:
            raise ValueError("a serving certificate needs at least one name")
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name or unique[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=self.days))
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in unique]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return ServingCertificate(
            names=tuple(unique), ca_pem=self.pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()),
        )


def system_roots() -> bytes:
    """The PEM roots this machine trusts by default (OpenSSL's default file), or b"" when there is none."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            try:
                return Path(candidate).read_bytes()
            except OSError:
                continue
    try:
        import certifi

        return Path(certifi.where()).read_bytes()
    except (ImportError, OSError):
        return b""


@dataclass
class _Shared:
    ca: SandboxCA
    files: list[Path]
    users: int = 0


_SHARED: dict[str, _Shared] = {}  # state folder -> the CA of the sandbox living there


def acquire(ctx) -> SandboxCA:
    """The sandbox's CA (created, and its files written, by the first caller); publishes
    ``ctx.state["ca"]`` and ``KOSMOS_DR_CA_BUNDLE``/``CURL_CA_BUNDLE``. Pair each call with ``release``."""
    key = str(Path(ctx.state_dir).resolve())
    shared = _SHARED.get(key)
    if shared is None:
        ca = SandboxCA()
        ca_file, bundle_file = Path(ctx.state_dir) / CA_FILE, Path(ctx.state_dir) / BUNDLE_FILE
        ca_file.write_bytes(ca.pem)
        roots = system_roots()
        bundle_file.write_bytes((roots.rstrip(b"\n") + b"\n" if roots else b"") + ca.pem)
        shared = _SHARED[key] = _Shared(ca, [ca_file, bundle_file])
        ctx.state["ca"] = {"ca_bundle": str(ca_file), "trust_bundle": str(bundle_file), "subject": CA_NAME}
        # KOSMOS_DR_CA_BUNDLE: the CA alone, for --cacert and targets; CURL_CA_BUNDLE: curl (and Python
        # requests) in a shell that sourced sandbox.env verify the sandbox's names, public roots kept.
        # SSL_CERT_FILE is left alone: it would replace every OpenSSL program's trust store in that shell.
        ctx.env.update(KOSMOS_DR_CA_BUNDLE=str(ca_file), CURL_CA_BUNDLE=str(bundle_file))
    shared.users += 1
    return shared.ca


def release(ctx) -> None:
    """One user of the CA is done; the last one removes its files."""
    key = str(Path(ctx.state_dir).resolve())
    shared = _SHARED.get(key)
    if shared is None:
        return
    shared.users -= 1
    if shared.users > 0:
        return
    del _SHARED[key]
    for path in shared.files:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


async def serve_https(runner, host: str, certificate: ServingCertificate) -> int:
    """Add a TLS listener presenting ``certificate`` to an aiohttp ``runner`` (same app, same request
    log) on a free port of ``host``; returns the port."""
    from aiohttp import web

    site = web.TCPSite(runner, host, 0, ssl_context=certificate.server_context())
    await site.start()
    return site._server.sockets[0].getsockname()[1]  # the port the OS chose
