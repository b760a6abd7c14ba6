"""The one TLS check of test_connection.py (connection.py) and diagnose.py --network
(service_checks.py): a real handshake with the certificates the jobs trust, and one rule for
when a certificate's expiry is worth a warning."""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from requests.utils import DEFAULT_CA_BUNDLE_PATH

CERT_WARN_DAYS = 14  # a certificate that expires sooner than this is a warning
RENEW_HINT = "renew the certificate soon"


@dataclass(frozen=True)
class TlsSession:
    """What a handshake found: the TLS version, the certificate's expiry and the handshake time."""

    version: str
    expires: datetime
    ms: float

    @property
    def valid_until(self) -> str:
        return f"{self.version}, certificate valid until {self.expires:%Y-%m-%d}"

    def expiry_warning(self, now: datetime | None = None) -> str | None:
        """'expires in N days' when fewer than CERT_WARN_DAYS are left, else None."""
        days = (self.expires - (now or datetime.now(UTC))).days
        return f"expires in {days} days" if days < CERT_WARN_DAYS else None


def ca_bundle() -> str:
    """The certificates requests trusts, so a TLS check agrees with the jobs: REQUESTS_CA_BUNDLE
    or CURL_CA_BUNDLE when set, else certifi's bundle."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH


def tls_handshake(host: str, port: int, timeout: float) -> TlsSession:
    """Connect and shake hands. Raises ssl.SSLCertVerificationError, ssl.SSLError or OSError."""
    context = ssl.create_default_context(cafile=ca_bundle())
    with socket.create_connection((host, port), timeout=timeout) as sock:
        started = time.perf_counter()
        with context.wrap_socket(sock, server_hostname=host) as tls:
            ms = round((time.perf_counter() - started) * 1000, 1)
            cert, version = tls.getpeercert(), tls.version() or "TLS"
    not_after = cert.get("notAfter") if cert else None
    if not isinstance(not_after, str):  # a verified handshake always has one
        raise ssl.SSLError(f"{host} sent no certificate expiry")
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)
    return TlsSession(version, expires, ms)


def describe_tls_error(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate refused: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed ({exc.reason or exc.__class__.__name__})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or exc.__class__.__name__


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
