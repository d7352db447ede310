"""CORS for browser clients (the AWS SDK for JavaScript in a browser), answered as DynamoDB answers it.

Off unless ``[server] cors_origins`` lists origins. A request carrying an allowed ``Origin`` gets
``Access-Control-Allow-Origin`` (``*`` when the list has ``"*"``, as DynamoDB sends; otherwise the origin
itself, with ``Vary: Origin``) and the response headers a script may read; an ``OPTIONS`` preflight is
answered 200 with the requested method and headers echoed as allowed and a two-day max age. A request
without an ``Origin``, or from an origin not listed, gets no CORS header at all, so a browser refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["Cors"]

_EXPOSE = b"Access-Control-Expose-Headers: x-amzn-RequestId,x-amzn-ErrorType,x-amz-crc32,Date\r\n"
_MAX_AGE = b"Access-Control-Max-Age: 172800\r\n"


class Cors:
    """The CORS response headers for a request, given the allowed origins."""

    __slots__ = ("any_origin", "origins")

    def __init__(self, origins: Iterable[str]) -> None:
        listed = list(origins)
        self.any_origin = "*" in listed
        self.origins = frozenset(o.encode() for o in listed)

    def headers(self, method: bytes, request: Mapping[bytes, bytes]) -> bytes:
        """Header lines (CRLF-terminated) to add to the response; empty when the request is not CORS."""
        origin = request.get(b"origin")
        if origin is None:
            return b""
        if self.any_origin:
            out = b"Access-Control-Allow-Origin: *\r\n" + _EXPOSE
        elif origin in self.origins:
            out = b"Access-Control-Allow-Origin: " + origin + b"\r\nVary: Origin\r\n" + _EXPOSE
        else:
            return b""
        if method == b"OPTIONS":  # the preflight: what the follow-up request may use
            out += _MAX_AGE
            wanted = request.get(b"access-control-request-method")
            if wanted:
                out += b"Access-Control-Allow-Methods: " + wanted + b"\r\n"
            wanted = request.get(b"access-control-request-headers")
            if wanted:
                out += b"Access-Control-Allow-Headers: " + wanted + b"\r\n"
        return out
