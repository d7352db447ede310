"""Errors the client raises.

    Exception
    ├── ClientError                         the server answered with an error (botocore's class when installed)
    │   └── <one class per DynamoDB error code, made on first use: ConditionalCheckFailedException, ...>
    └── TransportError                      no usable answer came back
        ├── ConnectError (ConnectionError)  the request was not sent: safe to retry for every operation
        │   └── ConnectTimeout (TimeoutError)
        ├── ConnectionClosed (ConnectionError) sent, but the connection ended before a full answer
        ├── ReadTimeout (TimeoutError)      sent, but no answer within the read timeout
        └── ProtocolError                   the answer is not valid HTTP/1.1, or its CRC32 does not match
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = [
    "ClientError",
    "ClientExceptions",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosed",
    "ProtocolError",
    "ReadTimeout",
    "TransportError",
    "error_class",
]

try:  # catchable as botocore's ClientError when botocore is installed
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - botocore is installed in the dev environment

    class ClientError(Exception):  # type: ignore[no-redef]
        """The server answered with an error (stand-in for botocore's class)."""

        def __init__(self, error_response: dict[str, Any], operation_name: str) -> None:
            error = error_response.get("Error", {})
            super().__init__(
                f"An error occurred ({error.get('Code', 'Unknown')}) when calling the {operation_name} "
                f"operation: {error.get('Message', 'Unknown')}"
            )
            self.response = error_response
            self.operation_name = operation_name


_classes: dict[str, type[ClientError]] = {}
_classes_lock = threading.Lock()


def error_class(code: str) -> type[ClientError]:
    """The ClientError subclass for a DynamoDB error code, made once and shared by every client."""
    cls = _classes.get(code)
    if cls is None:
        if not code.isidentifier():
            return ClientError
        with _classes_lock:
            cls = _classes.get(code)
            if cls is None:
                cls = type(code, (ClientError,), {"__module__": __name__, "__qualname__": code})
                _classes[code] = cls
    return cls


class ClientExceptions:
    """``client.exceptions``: ``client.exceptions.ConditionalCheckFailedException`` and so on, for any code."""

    def __getattr__(self, name: str) -> type[ClientError]:
        if name.startswith("_"):
            raise AttributeError(name)
        return ClientError if name == "ClientError" else error_class(name)

    def from_code(self, code: str) -> type[ClientError]:
        """The class for an error code (botocore has the same method)."""
        return error_class(code)


class TransportError(Exception):
    """No usable answer came back from an endpoint."""

    def __init__(self, message: str, endpoint: str = "") -> None:
        super().__init__(f"{message} ({endpoint})" if endpoint else message)
        self.endpoint = endpoint


class ConnectError(TransportError, ConnectionError):
    """The request was not sent (connect failed, or the connection was already dead)."""


class ConnectTimeout(ConnectError, TimeoutError):
    """Connecting took longer than the connect timeout."""


class ConnectionClosed(TransportError, ConnectionError):
    """The request was sent but the connection ended before a full answer came back."""


class ReadTimeout(TransportError, TimeoutError):
    """The request was sent but no answer came back within the read timeout."""


class ProtocolError(TransportError):
    """The answer was not valid HTTP/1.1, or its CRC32 did not match its body."""
