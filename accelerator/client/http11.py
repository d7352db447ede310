"""A minimal HTTP/1.1 response parser (Content-Length, chunked, or read-to-close bodies), without I/O.

Both transports feed it whatever bytes arrive; it returns the ``Response`` once the message is complete.
"""

from __future__ import annotations

from .errors import ProtocolError

__all__ = ["MAX_HEAD", "Response", "ResponseParser"]

MAX_HEAD = 64 * 1024
_NO_BODY = frozenset({204, 304})


class Response:
    """One parsed HTTP response: status, lower-cased headers, body, and whether the connection stays open."""

    __slots__ = ("status", "headers", "body", "keep_alive")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    status_line = lines[0]
    if not status_line.startswith("HTTP/1.") or len(status_line) < 12:
        raise ProtocolError(f"bad status line {status_line[:80]!r}")
    try:
        status = int(status_line[9:12])
    except ValueError:
        raise ProtocolError(f"bad status line {status_line[:80]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:80]!r}")
        name = name.strip().lower()
        value = value.strip()
        old = headers.get(name)
        headers[name] = value if old is None else f"{old}, {value}"
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if status_line[7] == "1" else "keep-alive" in connection
    return status, headers, keep_alive


class ResponseParser:
    """Feed bytes in; get a ``Response`` back once it is complete (``None`` until then)."""

    __slots__ = ("_buf", "_status", "_headers", "_keep_alive", "_length", "_chunk", "_parts", "_have")

    def __init__(self) -> None:
        self._buf = b""
        self._status = 0
        self._headers: dict[str, str] = {}
        self._keep_alive = False
        self._length = -1  # -1: until close; -2: chunked
        self._chunk = -1  # chunked: -1 size line next, -2 trailers next, else bytes of data left
        self._parts: list[bytes] = []
        self._have = 0

    def feed(self, data: bytes) -> Response | None:
        """Add received bytes; the complete response, or None while more are needed."""
        buf = self._buf + data if self._buf else data
        if not self._status:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise ProtocolError("response head too large")
                self._buf = buf
                return None
            status, headers, keep_alive = _parse_head(buf[:end])
            buf = buf[end + 4 :]
            self._buf = b""
            if status < 200:  # 100 Continue and friends: skip, the real answer follows
                return self.feed(buf) if buf else None
            self._status, self._headers, self._keep_alive = status, headers, keep_alive
            if status in _NO_BODY:
                self._length = 0
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self._length = -2
            elif "content-length" in headers:
                try:
                    self._length = int(headers["content-length"])
                except ValueError:
                    raise ProtocolError("bad Content-Length") from None
            else:
                self._keep_alive = False
        length = self._length
        if length >= 0:
            if self._parts or len(buf) < length:  # a large body arrives in pieces: join them once, at the end
                self._parts.append(buf)
                self._have += len(buf)
                if self._have < length:
                    return None
                buf = b"".join(self._parts)
            if len(buf) > length:  # we never pipeline: extra bytes mean the connection is not reusable
                self._keep_alive = False
            return Response(self._status, self._headers, buf[:length] if len(buf) > length else buf, self._keep_alive)
        if length == -2:
            return self._feed_chunked(buf)
        self._buf = buf
        return None

    def feed_eof(self) -> Response | None:
        """The peer closed: the response if its body runs to the close, else None (it was cut short)."""
        if self._status and self._length == -1:
            return Response(self._status, self._headers, self._buf, False)
        return None

    def _feed_chunked(self, buf: bytes) -> Response | None:
        pos = 0
        parts = self._parts
        while True:
            chunk = self._chunk
            if chunk == -1:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                try:
                    size = int(buf[pos:eol].split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ProtocolError("bad chunk size") from None
                pos = eol + 2
                self._chunk = size if size else -2
            elif chunk == -2:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                if eol == pos:  # the empty line after the trailers ends the message
                    keep_alive = self._keep_alive and eol + 2 == len(buf)
                    return Response(self._status, self._headers, b"".join(parts), keep_alive)
                pos = eol + 2
            else:
                if len(buf) - pos < chunk + 2:
                    break
                if buf[pos + chunk : pos + chunk + 2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                parts.append(buf[pos : pos + chunk])
                pos += chunk + 2
                self._chunk = -1
        self._buf = buf[pos:]
        return None
