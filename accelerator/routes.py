"""HTTP routes besides the DynamoDB API (admin, metrics): found by method and path, signed and authorised.

A route is ``(action, handler)`` under a ``(method, path)`` key; a path ending in "/" is a prefix whose handler
gets the last path segment (a table name: its resource is then the table's ARN, else "*"). A path served under
other methods only answers 405 with ``Allow`` (a flush is POST only). With a verifier, every route needs a
signature and the ``Authorize`` decision for its action; errors are DynamoDB-shaped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import unquote

from accelerator.api import Router
from accelerator.auth import Authorize, SigV4Verifier, check_allowed
from accelerator.core.errors import DynamoError, UnknownOperationException
from accelerator.policy import table_arn

__all__ = ["Reply", "Route", "Routes", "RouteTable", "refused"]

Reply = tuple[int, bytes, bytes, bytes]
"""(status, content type, extra header lines, body) of a response."""

Route = tuple[str, Callable[..., Awaitable[Reply]]]
"""(action name for the policy decision, handler)."""

Routes = Mapping[tuple[bytes, bytes], Route]
"""Routes by (method, path)."""


def refused(router: Router, operation: str, exc: DynamoError) -> Reply:
    """The error reply for a request refused before its handler (a bad signature, a denied admin action),
    counted in ``accelerator_errors`` under a bounded operation label (never the raw X-Amz-Target)."""
    router.metrics.error(operation, exc.type_name)
    return router.error_reply(exc)


class RouteTable:
    """The extra routes of one listener."""

    def __init__(self, routes: Routes | None, router: Router, verifier: SigV4Verifier | None,
                 authorize: Authorize) -> None:
        self.by_path: dict[bytes, dict[bytes, Route]] = {}
        for (method, path), route in (routes or {}).items():
            self.by_path.setdefault(path, {})[method] = route
        self.router = router
        self.verifier = verifier
        self.authorize = authorize

    async def serve(self, method: bytes, url: bytes, path: bytes, body: bytes,
                    headers: Mapping[bytes, bytes]) -> Reply | None:
        """The route's reply, or None when no route has this path."""
        methods, arg = self.by_path.get(path), None
        if methods is None:
            head, _, rest = path.rpartition(b"/")
            methods = self.by_path.get(head + b"/") if rest else None
            arg = rest
        if methods is None:
            return None
        route = methods.get(method)
        if route is None:  # e.g. a flush by GET: state changes are POST only
            allowed = b", ".join(sorted(methods))
            _, ctype, _, text = self.router.error_reply(UnknownOperationException(
                f"{method.decode('latin-1')} is not allowed on {path.decode('latin-1')}; use {allowed.decode()}"))
            return 405, ctype, b"Allow: " + allowed + b"\r\n", text
        action, handler = route
        if self.verifier is not None:
            try:
                principal = self.verifier.verify(method, url, headers, body)
                resource = "*" if arg is None else table_arn(unquote(arg.decode("utf-8", "replace")))
                check_allowed(self.authorize, principal, action, resource)
            except DynamoError as exc:
                return refused(self.router, action, exc)
        return await (handler() if arg is None else handler(arg))
