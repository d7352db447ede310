"""What both clients present, written once: the constructor and boto3's low-level methods.

``AcceleratorClient`` returns answers, ``AsyncAcceleratorClient`` awaitables of the same answers: each
operation method here sends its operation through the subclass's ``_call``, typed by ``R`` (the answer,
or an awaitable of it), so the method table exists once and mypy still sees every signature.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from .core import OPERATIONS as _OPS
from .core import ClientCore, Operation, operation
from .endpoints import EndpointSet
from .errors import ClientExceptions
from .paginate import PAGINATED
from .retry import RetryPolicy

__all__ = ["ClientFacade"]

R = TypeVar("R")


class ClientFacade(Generic[R]):
    """The shared surface; a subclass supplies ``_call`` and ``_make_transport``."""

    exceptions = ClientExceptions()
    default_pool_size: ClassVar[int] = 16
    _transport: Any

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        endpoints: Sequence[str] | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        sign: bool | None = None,
        retry_policy: RetryPolicy | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        pool_size: int | None = None,
        verify_crc32: bool = True,
        spread_reads: bool = True,
        health_check_interval: float = 1.0,
    ) -> None:
        """``pool_size`` None: the class's ``default_pool_size`` (threads block on a socket each; one event
        loop multiplexes more)."""
        self._core = ClientCore(
            endpoint_url, endpoints, region_name=region_name, aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key, aws_session_token=aws_session_token, sign=sign,
            retry_policy=retry_policy, verify_crc32=verify_crc32, spread_reads=spread_reads,
            health_check_interval=health_check_interval,
        )  # fmt: skip
        self._transport = self._make_transport(
            self._core.endpoints, connect_timeout=connect_timeout, read_timeout=read_timeout,
            ssl_context=ssl_context, pool_size=self.default_pool_size if pool_size is None else pool_size,
        )  # fmt: skip

    def _make_transport(self, endpoints: EndpointSet, *, connect_timeout: float, read_timeout: float,
                        ssl_context: ssl.SSLContext | None, pool_size: int) -> Any:
        raise NotImplementedError

    def _call(self, op: Operation, params: dict[str, Any]) -> R:
        raise NotImplementedError

    @property
    def endpoints(self) -> EndpointSet:
        return self._core.endpoints

    def can_paginate(self, operation_name: str) -> bool:
        return operation_name in PAGINATED

    def _make_api_call(self, operation_name: str, params: dict[str, Any]) -> R:
        """Any operation by wire name (``GetItem``), as botocore's method of the same name."""
        return self._call(operation(operation_name), params)

    def get_item(self, **kwargs: Any) -> R:
        return self._call(_OPS["get_item"], kwargs)

    def put_item(self, **kwargs: Any) -> R:
        return self._call(_OPS["put_item"], kwargs)

    def update_item(self, **kwargs: Any) -> R:
        return self._call(_OPS["update_item"], kwargs)

    def delete_item(self, **kwargs: Any) -> R:
        return self._call(_OPS["delete_item"], kwargs)

    def query(self, **kwargs: Any) -> R:
        return self._call(_OPS["query"], kwargs)

    def scan(self, **kwargs: Any) -> R:
        return self._call(_OPS["scan"], kwargs)

    def batch_get_item(self, **kwargs: Any) -> R:
        return self._call(_OPS["batch_get_item"], kwargs)

    def batch_write_item(self, **kwargs: Any) -> R:
        return self._call(_OPS["batch_write_item"], kwargs)

    def transact_get_items(self, **kwargs: Any) -> R:
        return self._call(_OPS["transact_get_items"], kwargs)

    def transact_write_items(self, **kwargs: Any) -> R:
        return self._call(_OPS["transact_write_items"], kwargs)

    def create_table(self, **kwargs: Any) -> R:
        return self._call(_OPS["create_table"], kwargs)

    def describe_table(self, **kwargs: Any) -> R:
        return self._call(_OPS["describe_table"], kwargs)

    def list_tables(self, **kwargs: Any) -> R:
        return self._call(_OPS["list_tables"], kwargs)

    def delete_table(self, **kwargs: Any) -> R:
        return self._call(_OPS["delete_table"], kwargs)

    def update_table(self, **kwargs: Any) -> R:
        return self._call(_OPS["update_table"], kwargs)

    def update_time_to_live(self, **kwargs: Any) -> R:
        return self._call(_OPS["update_time_to_live"], kwargs)

    def describe_time_to_live(self, **kwargs: Any) -> R:
        return self._call(_OPS["describe_time_to_live"], kwargs)

    def tag_resource(self, **kwargs: Any) -> R:
        return self._call(_OPS["tag_resource"], kwargs)

    def untag_resource(self, **kwargs: Any) -> R:
        return self._call(_OPS["untag_resource"], kwargs)

    def list_tags_of_resource(self, **kwargs: Any) -> R:
        return self._call(_OPS["list_tags_of_resource"], kwargs)

    def describe_limits(self, **kwargs: Any) -> R:
        return self._call(_OPS["describe_limits"], kwargs)

    def create_backup(self, **kwargs: Any) -> R:
        return self._call(_OPS["create_backup"], kwargs)

    def describe_backup(self, **kwargs: Any) -> R:
        return self._call(_OPS["describe_backup"], kwargs)

    def list_backups(self, **kwargs: Any) -> R:
        return self._call(_OPS["list_backups"], kwargs)

    def delete_backup(self, **kwargs: Any) -> R:
        return self._call(_OPS["delete_backup"], kwargs)

    def restore_table_from_backup(self, **kwargs: Any) -> R:
        return self._call(_OPS["restore_table_from_backup"], kwargs)

    def update_continuous_backups(self, **kwargs: Any) -> R:
        return self._call(_OPS["update_continuous_backups"], kwargs)

    def describe_continuous_backups(self, **kwargs: Any) -> R:
        return self._call(_OPS["describe_continuous_backups"], kwargs)

    def restore_table_to_point_in_time(self, **kwargs: Any) -> R:
        return self._call(_OPS["restore_table_to_point_in_time"], kwargs)

    def export_table_to_point_in_time(self, **kwargs: Any) -> R:
        return self._call(_OPS["export_table_to_point_in_time"], kwargs)

    def describe_export(self, **kwargs: Any) -> R:
        return self._call(_OPS["describe_export"], kwargs)

    def list_exports(self, **kwargs: Any) -> R:
        return self._call(_OPS["list_exports"], kwargs)

    def import_table(self, **kwargs: Any) -> R:
        # DynamoDB requires a ClientToken here; like botocore (an idempotency token), make one if none is given.
        return self._call(_OPS["import_table"], {"ClientToken": str(uuid.uuid4()), **kwargs})

    def describe_import(self, **kwargs: Any) -> R:
        return self._call(_OPS["describe_import"], kwargs)

    def list_imports(self, **kwargs: Any) -> R:
        return self._call(_OPS["list_imports"], kwargs)
