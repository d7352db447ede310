"""Paginators for query, scan and list_tables, with boto3's ``get_paginator(...).paginate(...)`` interface."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson

from .core import dumps

__all__ = ["PAGINATED", "AsyncPageIterator", "AsyncPaginator", "PageIterator", "Paginator"]

# operation -> (request token, response token, result key)
PAGINATED: dict[str, tuple[str, str, str]] = {
    "query": ("ExclusiveStartKey", "LastEvaluatedKey", "Items"),
    "scan": ("ExclusiveStartKey", "LastEvaluatedKey", "Items"),
    "list_tables": ("ExclusiveStartTableName", "LastEvaluatedTableName", "TableNames"),
}


def encode_token(value: Any) -> str:
    """A page's continuation as an opaque string (bytes become base64, as they go on the wire)."""
    return base64.b64encode(dumps(value)).decode()


def _decode_token(token: Any) -> Any:
    if not isinstance(token, str):
        return token  # already a key
    try:
        return orjson.loads(base64.b64decode(token))
    except (ValueError, orjson.JSONDecodeError):
        return token  # list_tables: a plain table name


def _prepare(operation: str, kwargs: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, str, str]]:
    if operation not in PAGINATED:
        raise ValueError(f"{operation} cannot be paginated (only {', '.join(PAGINATED)})")
    tokens = PAGINATED[operation]
    params = dict(kwargs)
    config = params.pop("PaginationConfig", None) or {}
    unknown = set(config) - {"PageSize", "StartingToken"}
    if unknown:
        raise ValueError(f"PaginationConfig keys not supported: {sorted(unknown)}")
    if config.get("PageSize"):
        params["Limit"] = config["PageSize"]
    if config.get("StartingToken"):
        params[tokens[0]] = _decode_token(config["StartingToken"])
    return params, tokens


def merge_pages(pages: list[dict[str, Any]], result_key: str) -> dict[str, Any]:
    """boto3's ``build_full_result``: the result lists joined, counts summed."""
    full: dict[str, Any] = {result_key: []}
    for page in pages:
        full[result_key].extend(page.get(result_key, ()))
        for count in ("Count", "ScannedCount"):
            if count in page:
                full[count] = full.get(count, 0) + page[count]
    return full


class _Pages:
    """The pages of one call: the request and its tokens; ``resume_token`` is where the last page left off."""

    def __init__(self, method: Callable[..., Any], operation: str, kwargs: dict[str, Any]) -> None:
        self._method = method
        self._params, self._tokens = _prepare(operation, kwargs)
        self.resume_token: str | None = None


class PageIterator(_Pages):
    """Iterates the pages of one call."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        params = dict(self._params)
        request_token, response_token, _ = self._tokens
        while True:
            page = self._method(**params)
            token = page.get(response_token)
            self.resume_token = encode_token(token) if token else None
            yield page
            if not token:
                return
            params[request_token] = token

    def build_full_result(self) -> dict[str, Any]:
        return merge_pages(list(self), self._tokens[2])


class AsyncPageIterator(_Pages):
    """The asyncio twin of ``PageIterator``: ``async for page in ...`` (its ``_method`` is awaited)."""

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        params = dict(self._params)
        request_token, response_token, _ = self._tokens
        while True:
            page = await self._method(**params)
            token = page.get(response_token)
            self.resume_token = encode_token(token) if token else None
            yield page
            if not token:
                return
            params[request_token] = token

    async def build_full_result(self) -> dict[str, Any]:
        return merge_pages([page async for page in self], self._tokens[2])


class _PaginatorBase:
    def __init__(self, client: Any, operation: str) -> None:
        _prepare(operation, {})
        self._client = client
        self._operation = operation


class Paginator(_PaginatorBase):
    """``client.get_paginator(name)``."""

    def paginate(self, **kwargs: Any) -> PageIterator:
        return PageIterator(getattr(self._client, self._operation), self._operation, kwargs)


class AsyncPaginator(_PaginatorBase):
    """``async_client.get_paginator(name)``."""

    def paginate(self, **kwargs: Any) -> AsyncPageIterator:
        return AsyncPageIterator(getattr(self._client, self._operation), self._operation, kwargs)
