"""Item and expression behaviour checked against what DynamoDB itself answers (error types and messages)."""

from __future__ import annotations

from typing import Any

import pytest


def _err(exc: pytest.ExceptionInfo[Any]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def _update(ddb: Any, table: str, expr: str, cond: str | None = None, **values: Any) -> Any:
    kwargs: dict[str, Any] = {"UpdateExpression": expr}
    if cond is not None:
        kwargs["ConditionExpression"] = cond
    if values:
        kwargs["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return ddb.update_item(TableName=table, Key={"pk": {"S": "k"}}, **kwargs)


@pytest.mark.parametrize("cond, function", [
    ("if_not_exists(a, a) = :n", "if_not_exists"),
    ("list_append(a, a) = :n", "list_append"),
])
def test_update_function_in_condition(ddb: Any, table: str, cond: str, function: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _update(ddb, table, "SET z = :n", cond, n={"N": "1"})
    assert _err(exc) == ("ValidationException", "Invalid ConditionExpression: The function is not allowed in a "
                                                f"condition expression; function: {function}")


@pytest.mark.parametrize("function", ["attribute_exists", "size", "begins_with"])
def test_condition_function_in_update(ddb: Any, table: str, function: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _update(ddb, table, f"SET z = {function}(a)")
    assert _err(exc) == ("ValidationException", "Invalid UpdateExpression: The function is not allowed in an "
                                                f"update expression; function: {function}")


def test_unknown_function_names_itself(ddb: Any, table: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _update(ddb, table, "SET z = :n", "dog(a) = :n", n={"N": "1"})
    assert _err(exc) == ("ValidationException", "Invalid ConditionExpression: Invalid function name; function: dog")


def test_nesting_limit_message(ddb: Any, table: str) -> None:
    deep: dict[str, Any] = {"S": "leaf"}
    for _ in range(33):
        deep = {"M": {"a": deep}}
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "deep": deep})
    code, message = _err(exc)
    assert code == "ValidationException"
    assert message == ("Nesting Levels have exceeded supported limits: Attributes in the item have nested levels "
                       "beyond supported limit")


def test_thirty_two_levels_allowed(ddb: Any, table: str) -> None:
    deep: dict[str, Any] = {"M": {}}
    for _ in range(30):
        deep = {"M": {"a": deep}}
    ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "deep": deep})
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "k"}})["Item"]["deep"] == deep


@pytest.fixture
def raw(server: Any) -> Any:
    """A client that sends members with the JSON types we give it (no client-side checks)."""
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(parameter_validation=False, retries={"max_attempts": 1}))


@pytest.mark.parametrize("value", [{"N": 123}, {"S": 5}, {"BOOL": "true"}])
def test_wrong_json_type_is_serialization_error(raw: Any, table: str, value: dict[str, Any]) -> None:
    with pytest.raises(raw.exceptions.ClientError) as exc:
        raw.put_item(TableName=table, Item={"pk": {"S": "k"}, "a": value})
    assert _err(exc)[0] == "SerializationException"
    with pytest.raises(raw.exceptions.ClientError) as exc:
        raw.update_item(TableName=table, Key={"pk": {"S": "k"}}, UpdateExpression="SET a = :good",
                        ConditionExpression="a < :bad", ExpressionAttributeValues={":good": {"N": "1"}, ":bad": value})
    assert _err(exc)[0] == "SerializationException"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "dog", " 1", "1 "])
def test_invalid_number_text(raw: Any, table: str, text: str) -> None:
    with pytest.raises(raw.exceptions.ClientError) as exc:
        raw.update_item(TableName=table, Key={"pk": {"S": "k"}}, UpdateExpression="SET a = :v",
                        ExpressionAttributeValues={":v": {"N": text}})
    assert _err(exc) == ("ValidationException", "ExpressionAttributeValues contains invalid value: The parameter "
                                                f"cannot be converted to a numeric value: {text} for key :v")


@pytest.mark.parametrize("expr, a, b", [
    ("SET z = :a + :b", "1E+50", "1"),
    ("SET z = :a - :b", "1", "1E-50"),
    ("SET z = :a + :b", "9E+125", "9E+125"),
])
def test_inexact_or_huge_sum_is_overflow(ddb: Any, table: str, expr: str, a: str, b: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _update(ddb, table, expr, a={"N": a}, b={"N": b})
    code, message = _err(exc)
    assert code == "ValidationException"
    assert message.endswith("Number overflow. Attempting to store a number with magnitude larger than supported range")


def test_exact_big_sum(ddb: Any, table: str) -> None:
    _update(ddb, table, "SET z = :a + :b", a={"N": "1"}, b={"N": "10000000000000000000000"})
    item = ddb.get_item(TableName=table, Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]
    assert item["z"] == {"N": "10000000000000000000001"}
