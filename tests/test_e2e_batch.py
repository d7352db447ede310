"""BatchGetItem and BatchWriteItem through boto3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def _code(exc: pytest.ExceptionInfo[Any]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_batch_write_then_get_across_tables(ddb: Any, make_table: Callable[..., str]) -> None:
    a, b = make_table(), make_table(range_key=("sk", "N"))
    ddb.batch_write_item(RequestItems={
        a: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}} for i in range(10)],
        b: [{"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"N": str(i)}}}} for i in range(5)],
    })
    got = ddb.batch_get_item(RequestItems={
        a: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(12)]},
        b: {"Keys": [{"pk": {"S": "p"}, "sk": {"N": str(i)}} for i in range(5)], "ConsistentRead": True},
    })
    assert got["UnprocessedKeys"] == {}
    assert sorted(int(i["v"]["N"]) for i in got["Responses"][a]) == list(range(10))
    assert len(got["Responses"][b]) == 5
    ddb.batch_write_item(RequestItems={a: [{"DeleteRequest": {"Key": {"pk": {"S": f"k{i}"}}}} for i in range(5)]})
    got = ddb.batch_get_item(RequestItems={a: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(10)]}})
    assert sorted(int(i["v"]["N"]) for i in got["Responses"][a]) == list(range(5, 10))


def test_batch_get_limits_and_duplicates(ddb: Any, table: str, make_table: Callable[..., str]) -> None:
    other_table = make_table()
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(101)]}})
    assert _code(exc) == ("ValidationException", f"1 validation error detected: Value at 'requestItems.{table}.member"
                                                 ".keys' failed to satisfy constraint: Member must have length less "
                                                 "than or equal to 100")
    with pytest.raises(ddb.exceptions.ClientError) as exc:  # over 100 across tables, at most 100 in each
        ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(60)]},
                                         other_table: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(41)]}})
    assert _code(exc) == ("ValidationException", "Too many items requested for the BatchGetItem call")
    assert ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(100)]}})[
        "Responses"] == {table: []}
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "a"}}]}})
    assert _code(exc) == ("ValidationException", "Provided list of item keys contains duplicates")
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.batch_get_item(RequestItems={"missing_table": {"Keys": [{"pk": {"S": "a"}}]}})


def test_batch_get_key_of_wrong_type(ddb: Any, table: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"N": "1"}}]}})
    assert _code(exc)[0] == "ValidationException"


def test_batch_write_limits_and_duplicates(ddb: Any, table: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.batch_write_item(RequestItems={
            table: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(26)]})
    assert _code(exc)[0] == "ValidationException" and "25" in _code(exc)[1]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": "a"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]})
    assert _code(exc) == ("ValidationException", "Provided list of item keys contains duplicates")
    # one bad item fails the whole batch before anything is written
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": "good"}}}}, {"PutRequest": {"Item": {"pk": {"N": "1"}}}}]})
    assert _code(exc)[0] == "ValidationException"
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "good"}}, ConsistentRead=True)


def test_batch_get_large_items_unprocessed(ddb: Any, table: str) -> None:
    # 50 items of ~390 KB are ~19 MB: more than one 16 MB response holds.
    blob = "x" * (390 * 1024)
    for start in range(0, 50, 10):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": f"big{i}"}, "blob": {"S": blob}}}} for i in range(start, start + 10)]})
    keys = [{"pk": {"S": f"big{i}"}} for i in range(50)]
    got = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    returned = {i["pk"]["S"] for i in got["Responses"][table]}
    unprocessed = {k["pk"]["S"] for k in got["UnprocessedKeys"].get(table, {}).get("Keys", [])}
    assert unprocessed, "a response over 16 MB leaves keys unprocessed"
    assert returned | unprocessed == {f"big{i}" for i in range(50)}
    assert not returned & unprocessed
