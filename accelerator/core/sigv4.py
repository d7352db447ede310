"""The AWS Signature Version 4 arithmetic shared by the client's signer and the server's verifier.

Both sides build the same canonical request, string to sign and signing key, so both use these functions:
the signer over the bytes it sends, the verifier over the bytes it received. Standard library only, which is
why the standalone client may import it (an exception to its import contract, see pyproject.toml).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import quote, unquote

__all__ = ["ALGORITHM", "canonical_query", "canonical_request", "payload_hash", "scope", "signature",
           "signing_key", "string_to_sign"]

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.digest(key, text.encode(), "sha256")


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The key derived from a secret for one day (``YYYYMMDD``), region and service."""
    return _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), service), "aws4_request")


def scope(day: str, region: str, service: str) -> str:
    """The credential scope: ``day/region/service/aws4_request``."""
    return f"{day}/{region}/{service}/aws4_request"


def payload_hash(body: bytes) -> str:
    """The hex SHA-256 of the body bytes as they travel (compressed bodies are hashed compressed)."""
    return hashlib.sha256(body).hexdigest()


def canonical_query(query: str) -> str:
    """Query parameters URI-encoded and sorted by name, then value."""
    pairs = []
    for part in query.split("&") if query else ():
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_request(method: str, path: str, query: str, headers: Iterable[tuple[str, str]],
                      signed_names: str, body_hash: str) -> str:
    """The canonical request; ``headers`` are (lower-case name, value with whitespace folded) in signed order."""
    lines = "".join(f"{name}:{value}\n" for name, value in headers)
    return "\n".join((method, quote(path or "/", safe="/~"), canonical_query(query), lines, signed_names,
                      body_hash))


def string_to_sign(amz_date: str, credential_scope: str, canonical: str) -> str:
    """What the signing key signs: algorithm, request time, scope and the canonical request's hash."""
    return f"{ALGORITHM}\n{amz_date}\n{credential_scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature(key: bytes, to_sign: str) -> str:
    """The hex HMAC-SHA256 signature of a string to sign."""
    return hmac.digest(key, to_sign.encode(), "sha256").hex()
