"""HTTP content codings as DynamoDB applies them: gzip/deflate request bodies and compressed responses.

DynamoDB accepts a request body sent with ``Content-Encoding: gzip`` (several gzip members may be
concatenated; this server decodes up to 1,024) or ``deflate`` (one zlib stream); any other coding, or a body
that does not decode, is answered with a 500 InternalServerError. It compresses a response of at least 4 KB when the request's
``Accept-Encoding`` asks for gzip or deflate, and its x-amz-crc32 is then the CRC of the compressed body.
"""

from __future__ import annotations

import zlib

__all__ = ["BadCoding", "BodyTooLarge", "decode_body", "pick_coding", "encode_body", "COMPRESS_AT"]

COMPRESS_AT = 4096  # DynamoDB compresses responses from this size on
_WBITS = {b"gzip": 31, b"deflate": 15}
_IDENTITY = (b"identity", b"")
_MAX_MEMBERS = 1024  # concatenated gzip members decoded in one body
_FEED = 4096  # compressed bytes given to zlib at a time (bounds the copy of what follows a gzip member)


class BadCoding(Exception):
    """The Content-Encoding is unknown or the body does not decode with it."""


class BodyTooLarge(Exception):
    """The decoded body would exceed the size limit."""


def decode_body(body: bytes, coding: bytes, limit: int) -> bytes:
    """The body a request's Content-Encoding stands for, decoded piecewise so it never exceeds ``limit``.

    The input is fed in slices of ``_FEED`` bytes: zlib copies the input left after a gzip member into
    ``unused_data``, so feeding the whole body made a body of many tiny members cost its length squared
    (a 15 MB body of 21-byte members held the loop for minutes); now each member copies at most one slice.
    Past ``_MAX_MEMBERS`` members the body is refused: SDKs send one, and each costs a Python-level step.
    """
    coding = coding.strip().lower()
    if coding in _IDENTITY:
        return body
    wbits = _WBITS.get(coding)
    if wbits is None:
        raise BadCoding(f"unsupported Content-Encoding {coding!r}")
    out: list[bytes] = []
    size = 0
    view = memoryview(body)
    fed = members = 0
    stream = zlib.decompressobj(wbits)
    pending: bytes | memoryview = b""
    try:
        while True:
            if not pending:
                if fed >= len(body):
                    raise BadCoding("truncated compressed body")
                pending = view[fed:fed + _FEED]
                fed += len(pending)
            piece = stream.decompress(pending, limit + 1 - size)
            size += len(piece)
            if size > limit:
                raise BodyTooLarge(f"decoded request body exceeds {limit} bytes")
            out.append(piece)
            if not stream.eof:
                pending = stream.unconsumed_tail
                continue
            pending = stream.unused_data
            if not pending and fed >= len(body):
                return b"".join(out)
            if wbits != 31:  # only gzip members may follow one another
                raise BadCoding("data after the end of the deflate stream")
            members += 1
            if members >= _MAX_MEMBERS:
                raise BadCoding(f"more than {_MAX_MEMBERS} gzip members")
            stream = zlib.decompressobj(wbits)
    except zlib.error as exc:
        raise BadCoding(str(exc)) from exc


def _quality(params: list[bytes]) -> float:
    for param in params:
        if b"q=" in param:  # DynamoDB takes the first parameter holding "q=" (so "nq=0" counts too)
            try:
                q = float(param.split(b"q=", 1)[1].strip())
            except ValueError:
                return 1.0  # an unreadable weight counts as no weight
            return 1.0 if q != q else min(max(q, 0.0), 1.0)
    return 1.0


def pick_coding(accept: bytes) -> bytes | None:
    """The coding (b"gzip" or b"deflate") an Accept-Encoding value prefers, or None for an uncompressed reply.

    The highest weight wins; on a tie a coding named explicitly beats "*", and an earlier one a later one.
    """
    named: dict[bytes, float] = {}
    wildcard: float | None = None
    for entry in accept.split(b","):
        token, *params = entry.split(b";")
        token = token.strip().lower()
        if token in _WBITS:
            named[token] = max(named.get(token, 0.0), _quality(params))
        elif token == b"*":
            wildcard = max(wildcard or 0.0, _quality(params))
    candidates = list(named.items())
    if wildcard is not None:
        candidates += [(coding, wildcard) for coding in _WBITS if coding not in named]
    best, best_q = None, 0.0
    for coding, q in candidates:
        if q > best_q:
            best, best_q = coding, q
    return best


def encode_body(body: bytes, coding: bytes) -> bytes:
    """The body compressed with ``coding`` (b"gzip" or b"deflate")."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, _WBITS[coding])
    return compressor.compress(body) + compressor.flush()
