"""PutItem, GetItem, DeleteItem through boto3: types, numbers, keys, limits and their errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def _error(exc: pytest.ExceptionInfo[Any]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


ALL_TYPES = {
    "pk": {"S": "all"},
    "s": {"S": "héllo ✓"},
    "empty": {"S": ""},
    "n": {"N": "-12.5"},
    "b": {"B": b"\x00\x01\xff"},
    "t": {"BOOL": True},
    "f": {"BOOL": False},
    "null": {"NULL": True},
    "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "x"}, {"M": {}}]}, "e": {"S": ""}}},
    "l": {"L": []},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"y"]},
}


def test_all_types_round_trip(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item=ALL_TYPES)
    for consistent in (True, False):
        item = ddb.get_item(TableName=table, Key={"pk": {"S": "all"}}, ConsistentRead=consistent)["Item"]
        assert {k: v for k, v in item.items() if k not in ("ss", "ns", "bs")} == {
            k: v for k, v in ALL_TYPES.items() if k not in ("ss", "ns", "bs")}
        assert sorted(item["ss"]["SS"]) == ["a", "b"]
        assert sorted(item["ns"]["NS"]) == ["1", "2.5"]
        assert sorted(item["bs"]["BS"]) == [b"x", b"y"]


@pytest.mark.parametrize("given, returned", [
    ("1.0", "1"), ("0.10", "0.1"), ("-0", "0"), ("1e3", "1000"), ("00012", "12"), ("-1.50E-3", "-0.0015"),
    ("1E-130", "0." + "0" * 129 + "1"),
    ("9.9999999999999999999999999999999999999E+125", "99999999999999999999999999999999999999" + "0" * 88),
    ("-9.9999999999999999999999999999999999999E+125", "-99999999999999999999999999999999999999" + "0" * 88),
    ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
])
def test_numbers_normalised(ddb: Any, table: str, given: str, returned: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "n"}, "v": {"N": given}})
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "n"}})["Item"]["v"] == {"N": returned}


@pytest.mark.parametrize("value, fragment", [
    ("1E+126", "overflow"), ("1E-131", "underflow"),
    ("123456789012345678901234567890123456789", "38 significant digits"),
    ("abc", "numeric value"), ("1..2", "numeric value"), ("NaN", "numeric value"), ("Infinity", "numeric value"),
])
def test_bad_numbers(ddb: Any, table: str, value: str, fragment: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "v": {"N": value}})
    code, message = _error(exc)
    assert code == "ValidationException" and fragment in message


def test_numeric_key_normalised(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(hash_key=("id", "N"))
    ddb.put_item(TableName=name, Item={"id": {"N": "1.50"}, "v": {"S": "a"}})
    assert ddb.get_item(TableName=name, Key={"id": {"N": "1.5"}})["Item"]["id"] == {"N": "1.5"}
    assert ddb.get_item(TableName=name, Key={"id": {"N": "15E-1"}})["Item"]["v"] == {"S": "a"}


@pytest.mark.parametrize("attr, fragment", [
    ({"SS": []}, "may not be empty"), ({"NS": []}, "may not be empty"), ({"BS": []}, "should not be empty"),
    ({"SS": ["a", "a"]}, "duplicates"), ({"NS": ["1", "1.0"]}, "duplicates"), ({"BS": [b"a", b"a"]}, "duplicates"),
    ({"NULL": False}, "Null attribute value"),
])
def test_bad_sets_and_values(ddb: Any, table: str, attr: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "v": attr})
    code, message = _error(exc)
    assert code == "ValidationException" and fragment in message


def test_key_errors(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(range_key=("sk", "S"))
    cases = [
        ({"pk": {"S": ""}, "sk": {"S": "a"}}, "empty string"),
        ({"pk": {"S": "a"}, "sk": {"S": ""}}, "empty string"),
        ({"pk": {"N": "1"}, "sk": {"S": "a"}}, "Type mismatch"),
        ({"pk": {"S": "a"}}, "Missing the key sk"),
        ({"sk": {"S": "a"}}, "Missing the key pk"),
        ({"pk": {"S": "x" * 2049}, "sk": {"S": "a"}}, "2048"),
        ({"pk": {"S": "a"}, "sk": {"S": "x" * 1025}}, "1024"),
    ]
    for item, fragment in cases:
        with pytest.raises(ddb.exceptions.ClientError) as exc:
            ddb.put_item(TableName=name, Item=item)
        code, message = _error(exc)
        assert code == "ValidationException" and fragment in message, (item, message)
    ddb.put_item(TableName=name, Item={"pk": {"S": "x" * 2048}, "sk": {"S": "y" * 1024}})
    for key in ({"pk": {"S": "a"}}, {"pk": {"S": "a"}, "sk": {"S": "b"}, "extra": {"S": "c"}},
                {"pk": {"S": "a"}, "other": {"S": "b"}}):
        with pytest.raises(ddb.exceptions.ClientError) as exc:
            ddb.get_item(TableName=name, Key=key)
        assert _error(exc) == ("ValidationException", "The provided key element does not match the schema")


def test_item_size_limit(ddb: Any, table: str) -> None:
    # 400 KB counts names and values: a value just under the limit with its name fits, one byte more does not.
    limit = 400 * 1024
    overhead = len("pk") + len("x") + len("data")
    ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "data": {"S": "a" * (limit - overhead)}})
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "data": {"S": "a" * (limit - overhead + 1)}})
    assert _error(exc) == ("ValidationException", "Item size has exceeded the maximum allowed size")
    assert len(ddb.get_item(TableName=table, Key={"pk": {"S": "x"}})["Item"]["data"]["S"]) == limit - overhead


def test_nesting_limit(ddb: Any, table: str) -> None:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(31):
        value = {"M": {"a": value}}
    ddb.put_item(TableName=table, Item={"pk": {"S": "deep"}, "v": value})
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=table, Item={"pk": {"S": "deep"}, "v": {"L": [value]}})
    assert _error(exc)[1].startswith("Nesting Levels have exceeded supported limits")


def test_return_values(ddb: Any, table: str) -> None:
    key = {"pk": {"S": "rv"}}
    assert "Attributes" not in ddb.put_item(TableName=table, Item={**key, "v": {"N": "1"}}, ReturnValues="ALL_OLD")
    old = ddb.put_item(TableName=table, Item={**key, "v": {"N": "2"}}, ReturnValues="ALL_OLD")
    assert old["Attributes"] == {**key, "v": {"N": "1"}}
    assert "Attributes" not in ddb.put_item(TableName=table, Item={**key, "v": {"N": "3"}})
    deleted = ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")
    assert deleted["Attributes"] == {**key, "v": {"N": "3"}}
    assert "Item" not in ddb.get_item(TableName=table, Key=key)
    assert "Attributes" not in ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=table, Item=key, ReturnValues="ALL_NEW")
    assert _error(exc) == ("ValidationException", "Return values set to invalid value")


def test_missing_table(ddb: Any) -> None:
    for call in (lambda: ddb.get_item(TableName="nope_nope", Key={"pk": {"S": "a"}}),
                 lambda: ddb.put_item(TableName="nope_nope", Item={"pk": {"S": "a"}}),
                 lambda: ddb.delete_item(TableName="nope_nope", Key={"pk": {"S": "a"}})):
        with pytest.raises(ddb.exceptions.ResourceNotFoundException):
            call()


def test_binary_keys_order_independent_of_encoding(ddb: Any, make_table: Callable[..., str]) -> None:
    name = make_table(hash_key=("id", "B"))
    for raw in (b"\x00", b"\xff\x00", b"abc"):
        ddb.put_item(TableName=name, Item={"id": {"B": raw}, "v": {"B": raw}})
        assert ddb.get_item(TableName=name, Key={"id": {"B": raw}})["Item"]["v"] == {"B": raw}


def test_consumed_capacity(ddb: Any, table: str) -> None:
    big = {"pk": {"S": "cap"}, "data": {"S": "x" * 5000}}
    put = ddb.put_item(TableName=table, Item=big, ReturnConsumedCapacity="TOTAL")
    assert put["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 5.0}
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "cap"}}, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert got["ConsumedCapacity"]["CapacityUnits"] == 2.0
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "cap"}}, ConsistentRead=True,
                       ReturnConsumedCapacity="INDEXES")
    assert got["ConsumedCapacity"]["Table"] == {"CapacityUnits": 2.0}
    assert "ConsumedCapacity" not in ddb.get_item(TableName=table, Key={"pk": {"S": "cap"}}, ConsistentRead=True)
    batch = ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": "b1"}}}}]},
                                 ReturnConsumedCapacity="TOTAL")
    assert batch["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 1.0}]
