"""Optional AWS Signature Version 4 checking of incoming requests (``[server] auth = "sigv4"``).

Off by default, as DynamoDB Local and DAX clusters on a private network are used. When on, a request
must carry a valid SigV4 ``Authorization`` header made with one of the configured access keys, within
``max_skew`` seconds of the server's clock; the errors are DynamoDB's (MissingAuthenticationToken,
UnrecognizedClient, InvalidSignature). Signing keys are derived once per (key, date, region).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from accelerator.core.context import PRINCIPAL
from accelerator.core.errors import DynamoError

__all__ = ["SigV4Verifier", "InvalidSignatureException", "UnrecognizedClientException", "PRINCIPAL"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})\s*\Z")
_SPACES = re.compile(r"\s+")


class InvalidSignatureException(DynamoError):
    type_name = "InvalidSignatureException"
    prefix = "com.amazon.coral.service#"


class UnrecognizedClientException(DynamoError):
    type_name = "UnrecognizedClientException"
    prefix = "com.amazon.coral.service#"


class _MissingToken(DynamoError):
    type_name = "MissingAuthenticationTokenException"
    prefix = "com.amazon.coral.service#"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else ():
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


class SigV4Verifier:
    """Checks SigV4 signatures against a fixed set of access keys."""

    def __init__(self, credentials: Mapping[str, str], max_skew: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.credentials = dict(credentials)
        self.max_skew = max_skew
        self.clock = clock
        self._keys: dict[tuple[str, str, str, str], bytes] = {}

    def _signing_key(self, access_key: str, date: str, region: str, service: str) -> bytes:
        cache_key = (access_key, date, region, service)
        key = self._keys.get(cache_key)
        if key is None:
            secret = self.credentials[access_key]
            key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service), "aws4_request")
            if len(self._keys) > 1024:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def verify(self, method: bytes, url: bytes, headers: Mapping[bytes, bytes], body: bytes) -> None:
        """Raise DynamoDB's error unless the request is signed by a known key; headers are lower-cased."""
        authorization = headers.get(b"authorization")
        if not authorization:
            raise _MissingToken("Request is missing Authentication Token")
        match = _AUTH.match(authorization.decode("latin-1"))
        if match is None:
            raise InvalidSignatureException("Authorization header requires 'Credential', 'SignedHeaders' and "
                                            "'Signature' parameters (AWS4-HMAC-SHA256).")
        credential, signed, signature = match.groups()
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise InvalidSignatureException("Credential should be scoped to a valid region.")
        access_key, date, region, service, _ = parts
        if access_key not in self.credentials:
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        amz_date = headers.get(b"x-amz-date", b"").decode("latin-1")
        self._check_time(amz_date, date)
        names = signed.split(";")
        if "host" not in names:
            raise InvalidSignatureException("'Host' must be a signed header.")
        canonical_headers = "".join(
            f"{name}:{_SPACES.sub(' ', headers.get(name.encode(), b'').decode('latin-1').strip())}\n"
            for name in names)
        path, _, query = url.decode("latin-1").partition("?")
        payload = headers.get(b"x-amz-content-sha256", b"").decode() or hashlib.sha256(body).hexdigest()
        canonical = "\n".join((method.decode(), quote(path or "/", safe="/-_.~%"), _canonical_query(query),
                               canonical_headers, signed, payload))
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join((_ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
        expected = hmac.new(self._signing_key(access_key, date, region, service), to_sign.encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise InvalidSignatureException(
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.")
        PRINCIPAL.set(access_key)  # the per-key policy decision reads it (accelerator.policy)

    def _check_time(self, amz_date: str, date: str) -> None:
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise InvalidSignatureException("X-Amz-Date header is missing or malformed.") from None
        if not amz_date.startswith(date):
            raise InvalidSignatureException("Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                                            "of date from HTTP.")
        now = self.clock()
        if signed_at < now - self.max_skew:
            raise InvalidSignatureException(f"Signature expired: {amz_date} is now earlier than "
                                            f"{_stamp(now - self.max_skew)} ({_stamp(now)} - 5 min.)")
        if signed_at > now + self.max_skew:
            raise InvalidSignatureException(f"Signature not yet current: {amz_date} is still later than "
                                            f"{_stamp(now + self.max_skew)} ({_stamp(now)} + 5 min.)")


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
