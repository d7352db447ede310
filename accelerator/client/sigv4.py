"""AWS Signature Version 4 for DynamoDB JSON requests and the accelerator's admin routes.

The arithmetic (canonical request, string to sign, key derivation) is ``accelerator.core.sigv4``, shared with
the server's verifier; this module adds credentials, caching of the day's key and the fast path for ``POST /``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from accelerator.core import sigv4 as core

__all__ = ["Credentials", "SigV4Signer", "credentials_from_env"]

_ALGORITHM = core.ALGORITHM


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key, its secret and an optional session token."""

    access_key: str
    secret_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(access_key={self.access_key!r})"


def credentials_from_env() -> Credentials | None:
    """Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, if both keys are set."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)


class SigV4Signer:
    """Signs requests for one set of credentials, region and service; thread-safe (state is replaced whole)."""

    def __init__(self, credentials: Credentials, region: str, service: str = "dynamodb") -> None:
        self.credentials = credentials
        self.region = region
        self.service = service
        self._stamp: tuple[int, str] = (-1, "")
        self._day_key: tuple[str, bytes] = ("", b"")
        self._templates: dict[tuple[str, str], tuple[str, str, str]] = {}

    def _timestamp(self) -> str:
        now = int(time.time())
        second, amz_date = self._stamp
        if now != second:  # strftime once a second, not once a request
            amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
            self._stamp = (now, amz_date)
        return amz_date

    def _signing_key(self, day: str) -> bytes:
        cached_day, key = self._day_key
        if cached_day != day:
            key = core.signing_key(self.credentials.secret_key, day, self.region, self.service)
            self._day_key = (day, key)
        return key

    def _template(self, host: str, target: str) -> tuple[str, str, str]:
        """The fixed parts of a DynamoDB request's canonical form, around its date and body hash."""
        token = self.credentials.session_token
        token_line = f"x-amz-security-token:{token}\n" if token else ""
        names = "content-type;host;x-amz-date;" + ("x-amz-security-token;" if token else "") + "x-amz-target"
        before_date = f"POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:{host}\nx-amz-date:"
        after_date = f"\n{token_line}x-amz-target:{target}\n\n{names}\n"
        template = (before_date, after_date, names)
        if len(self._templates) < 4096:
            self._templates[(host, target)] = template
        return template

    def sign_json_request(self, host: str, target: str, body: bytes) -> bytes:
        """The signing header lines (CRLF-terminated) for a DynamoDB JSON ``POST /``; the fast path of ``sign``.

        Signs Content-Type (application/x-amz-json-1.0), Host, X-Amz-Date, X-Amz-Security-Token and
        X-Amz-Target: the same set ``sign`` would for those headers.
        """
        amz_date = self._timestamp()
        before_date, after_date, names = self._templates.get((host, target)) or self._template(host, target)
        # The canonical request of core.canonical_request, with its fixed parts precomputed per (host, target).
        canonical = before_date + amz_date + after_date + core.payload_hash(body)
        day = amz_date[:8]
        scope = core.scope(day, self.region, self.service)
        signature = core.signature(self._signing_key(day), core.string_to_sign(amz_date, scope, canonical))
        token = self.credentials.session_token
        return (
            f"X-Amz-Date: {amz_date}\r\n"
            + (f"X-Amz-Security-Token: {token}\r\n" if token else "")
            + f"Authorization: {_ALGORITHM} Credential={self.credentials.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}\r\n"
        ).encode()

    def sign(self, host: str, headers: dict[str, str], body: bytes, amz_date: str | None = None,
             method: str = "POST", path: str = "/") -> dict[str, str]:
        """The headers to add to a request: X-Amz-Date, X-Amz-Security-Token (if any), Authorization.

        ``headers`` are the other headers that are sent and signed (besides Host), e.g. Content-Type and
        X-Amz-Target; ``amz_date`` (``YYYYMMDDTHHMMSSZ``) fixes the time, for tests; ``path`` may carry a query.
        """
        amz_date = amz_date or self._timestamp()
        token = self.credentials.session_token
        added = {"X-Amz-Date": amz_date}
        if token:
            added["X-Amz-Security-Token"] = token
        signed = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
        signed["host"] = host
        signed["x-amz-date"] = amz_date
        if token:
            signed["x-amz-security-token"] = token
        names = sorted(signed)
        signed_names = ";".join(names)
        route, _, query = path.partition("?")
        canonical = core.canonical_request(method, route, query, ((n, signed[n]) for n in names), signed_names,
                                           core.payload_hash(body))
        day = amz_date[:8]
        credential_scope = core.scope(day, self.region, self.service)
        signature = core.signature(self._signing_key(day), core.string_to_sign(amz_date, credential_scope, canonical))
        added["Authorization"] = (
            f"{_ALGORITHM} Credential={self.credentials.access_key}/{credential_scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return added
