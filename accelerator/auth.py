"""SigV4 verification of incoming requests (``[server] auth = "sigv4"``), as DynamoDB verifies them.

Off by default, as DynamoDB Local and DAX clusters on a private network are used. When on, every request
(the data plane, ``/admin/*``, and ``/metrics`` on the main listener) must carry a valid SigV4 ``Authorization``
header made with one of the configured access keys. The checks run in DynamoDB's order, each with its error:

    no ``Authorization: AWS4-...`` header           MissingAuthenticationTokenException
    missing Credential/SignedHeaders/Signature/date IncompleteSignatureException
    date not ISO-8601 basic                         IncompleteSignatureException
    date outside ``max_skew`` (5 min.)              InvalidSignatureException "Signature expired" / "not yet current"
    Host not signed                                 InvalidSignatureException
    X-Amz-Target sent but not signed                InvalidSignatureException (a check added here)
    algorithm, credential shape                     IncompleteSignatureException
    credential scope (service, terminator, day)     InvalidSignatureException
    unknown access key                              UnrecognizedClientException
    body hash or signature mismatch                 InvalidSignatureException

The payload hash is always computed over the body bytes as received (before Content-Encoding is undone: clients
sign what they send); an ``X-Amz-Content-Sha256`` header, signed or not, must equal it, so a captured request
cannot be replayed with another body (``UNSIGNED-PAYLOAD`` is refused, as DynamoDB does).

The verified access key is the request's principal: ``verify`` returns it and sets ``PRINCIPAL`` for the code
below (``accelerator.core.context.PRINCIPAL``, re-exported here; the per-key policies of accelerator.policy
read it). Admin routes ask ``Authorize(principal, action, resource)`` (``allow_all`` unless per-key policies are
configured, then ``PolicySet.allowed``); a refusal is ``AccessDeniedException``.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from accelerator.core import sigv4
from accelerator.core.context import PRINCIPAL
from accelerator.core.errors import (
    AccessDeniedException,
    DynamoError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from accelerator.policy import principal_arn

__all__ = ["PRINCIPAL", "Authorize", "SigV4Verifier", "allow_all", "check_allowed",
           "InvalidSignatureException", "UnrecognizedClientException"]

Authorize = Callable[[str, str, str], bool]
"""A policy decision: ``allowed(principal, action, resource)``."""

SERVICE = "dynamodb"
_SPACES = re.compile(r"\s+")
_BASIC_DATE = re.compile(r"\d{8}T\d{6}Z\Z")
_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
             "Secret Access Key and signing method. Consult the service documentation for details.")


def allow_all(principal: str, action: str, resource: str) -> bool:
    """The decision without per-key policies: any verified key may do anything."""
    return True


def check_allowed(authorize: Authorize, principal: str | None, action: str, resource: str) -> None:
    """Raise DynamoDB's AccessDeniedException unless ``authorize`` allows the request's principal."""
    if principal is not None and not authorize(principal, action, resource):
        raise AccessDeniedException(f"User: {principal_arn(principal)} is not authorized to perform: {action} "
                                    f"on resource: {resource}")


def _params(authorization: str) -> tuple[str, dict[str, str]]:
    """The algorithm and the ``name=value`` parameters of an Authorization header."""
    algorithm, _, rest = authorization.strip().partition(" ")
    params: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise IncompleteSignatureException(f"'{part}' not a valid key=value pair (missing equal-sign) in "
                                               f"Authorization header: '{authorization}'.")
        params[name.strip()] = value.strip()
    return algorithm, params


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


class SigV4Verifier:
    """Checks SigV4 signatures against a fixed set of access keys; the clock is injected for tests."""

    def __init__(self, credentials: Mapping[str, str], max_skew: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.credentials = dict(credentials)
        self.max_skew = max_skew
        self.clock = clock
        self._keys: dict[tuple[str, str, str], bytes] = {}

    def _signing_key(self, access_key: str, day: str, region: str) -> bytes:
        cache_key = (access_key, day, region)
        key = self._keys.get(cache_key)
        if key is None:
            key = sigv4.signing_key(self.credentials[access_key], day, region, SERVICE)
            if len(self._keys) > 1024:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def verify(self, method: bytes, url: bytes, headers: Mapping[bytes, bytes], body: bytes) -> str:
        """The access key that signed the request (also set as ``PRINCIPAL``), or DynamoDB's error.

        ``headers`` have lower-case names; ``body`` is the bytes received, still Content-Encoded.
        """
        params, amz_date, names, access_key, day, region = self._headers(headers)
        body_hash = sigv4.payload_hash(body)
        claimed = headers.get(b"x-amz-content-sha256")
        if claimed is not None and claimed.decode("latin-1") != body_hash:
            raise InvalidSignatureException(_MISMATCH)  # a header that disagrees with the bytes: a swapped body
        path, _, query = url.decode("latin-1").partition("?")
        canonical = sigv4.canonical_request(
            method.decode("latin-1"), path, query,
            ((n, _SPACES.sub(" ", headers.get(n.encode(), b"").decode("latin-1").strip())) for n in names),
            params["SignedHeaders"], body_hash)
        to_sign = sigv4.string_to_sign(amz_date, sigv4.scope(day, region, SERVICE), canonical)
        expected = sigv4.signature(self._signing_key(access_key, day, region), to_sign)
        if not _same(expected, params["Signature"]):
            raise InvalidSignatureException(_MISMATCH)
        PRINCIPAL.set(access_key)  # the per-key policy decision reads it (accelerator.policy)
        return access_key

    def plausible(self, headers: Mapping[bytes, bytes]) -> bool:
        """Whether the headers alone pass every check before the body's (a known key, in its time window):
        the server stops buffering the body of a request that cannot verify."""
        try:
            self._headers(headers)
        except DynamoError:
            return False
        return True

    def _headers(self, headers: Mapping[bytes, bytes]) -> tuple[dict[str, str], str, list[str], str, str, str]:
        """The checks that need no body, in DynamoDB's order: (parameters, date, signed names, key, day, region)."""
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if not authorization.strip().startswith("AWS4-"):
            raise MissingAuthenticationTokenException("Request is missing Authentication Token")
        algorithm, params = _params(authorization)
        amz_date = (headers.get(b"x-amz-date") or headers.get(b"date") or b"").decode("latin-1")
        self._check_complete(authorization, params, amz_date)
        self._check_time(amz_date)
        names = params["SignedHeaders"].split(";")
        if "host" not in names:
            raise InvalidSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                                            "Authorization.")
        if b"x-amz-target" in headers and "x-amz-target" not in names:
            # The target picks the operation and is not in the body hash: unsigned, a captured GetItem could be
            # re-sent as a DeleteItem of the same key. SDKs sign it; clients signing Host alone are refused.
            raise InvalidSignatureException("'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
        if algorithm != sigv4.ALGORITHM:
            raise IncompleteSignatureException(f"Unsupported AWS 'algorithm': '{algorithm}' (only "
                                               f"{sigv4.ALGORITHM} for now). ")
        access_key, day, region = self._check_scope(params["Credential"], amz_date)
        return params, amz_date, names, access_key, day, region

    @staticmethod
    def _check_complete(authorization: str, params: Mapping[str, str], amz_date: str) -> None:
        missing = "".join(f"Authorization header requires '{name}' parameter. "
                          for name in ("Credential", "Signature", "SignedHeaders") if not params.get(name))
        if not amz_date:
            missing += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        if missing:
            raise IncompleteSignatureException(f"{missing}Authorization={authorization}")

    def _check_time(self, amz_date: str) -> None:
        if _BASIC_DATE.match(amz_date) is None:
            raise IncompleteSignatureException(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                                               "See http://en.wikipedia.org/wiki/ISO_8601")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:  # the right shape but no such date (month 13, ...)
            raise IncompleteSignatureException(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                                               "See http://en.wikipedia.org/wiki/ISO_8601") from None
        now, skew = self.clock(), self.max_skew
        minutes = f"{skew / 60:g} min."
        if signed_at < now - skew:
            raise InvalidSignatureException(f"Signature expired: {amz_date} is now earlier than "
                                            f"{_stamp(now - skew)} ({_stamp(now)} - {minutes})")
        if signed_at > now + skew:
            raise InvalidSignatureException(f"Signature not yet current: {amz_date} is still later than "
                                            f"{_stamp(now + skew)} ({_stamp(now)} + {minutes})")

    def _check_scope(self, credential: str, amz_date: str) -> tuple[str, str, str]:
        parts = credential.rstrip("/").split("/")
        if len(parts) != 5:
            raise IncompleteSignatureException("Credential must have exactly 5 slash-delimited elements, e.g. "
                                               f"keyid/date/region/service/term, got '{credential}'")
        access_key, day, region, service, terminator = parts
        problems = []
        if not region or not region.replace("-", "").isalnum():
            problems.append(f"Credential should be scoped to a valid region, not '{region}'. ")
        if service != SERVICE:
            problems.append(f"Credential should be scoped to correct service: '{SERVICE}'. ")
        if terminator != "aws4_request":
            problems.append(f"Credential should be scoped with a valid terminator: 'aws4_request', "
                            f"not '{terminator}'. ")
        if day != amz_date[:8]:
            problems.append(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                            f"from HTTP: '{day}' != '{amz_date[:8]}', from '{amz_date}'.")
        if problems:
            raise InvalidSignatureException("".join(problems).strip())
        if access_key not in self.credentials:
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        return access_key, day, region


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison; a signature with non-ASCII characters simply does not match."""
    return hmac.compare_digest(expected.encode(), given.encode("latin-1", "replace"))
