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


_LONG_NAME = "n" * 65536
_NAME_TOO_LARGE = "1 validation error detected: Attribute name is too large, must be less than 65536 bytes"


@pytest.mark.parametrize("request_kwargs", [
    {"UpdateExpression": "SET #n = :v", "ExpressionAttributeNames": {"#n": _LONG_NAME},
     "ExpressionAttributeValues": {":v": {"N": "1"}}},
    {"UpdateExpression": "SET a = :v", "ConditionExpression": "#n = :v", "ExpressionAttributeNames": {"#n": _LONG_NAME},
     "ExpressionAttributeValues": {":v": {"N": "1"}}},
    {"AttributeUpdates": {_LONG_NAME: {"Action": "PUT", "Value": {"N": "1"}}}},
])
def test_attribute_name_limit_in_updates(ddb: Any, table: str, request_kwargs: dict[str, Any]) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.update_item(TableName=table, Key={"pk": {"S": "k"}}, **request_kwargs)
    assert _err(exc) == ("ValidationException", _NAME_TOO_LARGE)


def test_attribute_name_limit_in_items_and_reads(ddb: Any, table: str) -> None:
    longest = _LONG_NAME[:-1]
    ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, longest: {"N": "1"}, "m": {"M": {longest: {"N": "2"}}}})
    got = ddb.get_item(TableName=table, Key={"pk": {"S": "k"}}, AttributesToGet=[longest])["Item"]
    assert got == {longest: {"N": "1"}}
    for item in ({"pk": {"S": "k"}, _LONG_NAME: {"N": "1"}}, {"pk": {"S": "k"}, "m": {"M": {_LONG_NAME: {"N": "1"}}}}):
        with pytest.raises(ddb.exceptions.ClientError) as exc:
            ddb.put_item(TableName=table, Item=item)
        assert _err(exc) == ("ValidationException", _NAME_TOO_LARGE)
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.get_item(TableName=table, Key={"pk": {"S": "k"}}, AttributesToGet=[_LONG_NAME])
    assert _err(exc) == ("ValidationException", _NAME_TOO_LARGE)
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.get_item(TableName=table, Key={"pk": {"S": "k"}}, ProjectionExpression="#n",
                     ExpressionAttributeNames={"#n": _LONG_NAME})
    assert _err(exc) == ("ValidationException", _NAME_TOO_LARGE)


@pytest.mark.parametrize("cond, message", [
    ("(" * 2046 + "a<b" + ")" * 2046, "The expression has redundant parentheses;"),
    ("(" * 4096, "The expression has redundant parentheses;"),
    ("a < " + "f(" * 1355 + "b" + ")" * 1355, "Invalid function name; function: f"),
    ("not " * 1000 + "a<b", "The expression contains too many operators; operator count: 1001"),
    ("a<b " + "or (a<b " * 454 + ")" * 454, "The expression contains too many operators; operator count: 909"),
])
def test_deep_conditions_within_4kb_are_validation_errors(ddb: Any, table: str, cond: str, message: str) -> None:
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _update(ddb, table, "SET z = :n", cond, n={"N": "1"})
    assert _err(exc) == ("ValidationException", "Invalid ConditionExpression: " + message)


def test_three_hundred_operators_allowed(ddb: Any, table: str) -> None:
    _update(ddb, table, "SET a = :one, b = :two", one={"N": "1"}, two={"N": "2"})
    _update(ddb, table, "SET z = :n", "a<b " + "or (a<b " * 149 + ")" * 149, n={"N": "1"})
    _update(ddb, table, "SET z = :n", "not " * 298 + "a<b", n={"N": "2"})
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.scan(TableName=table, FilterExpression="not " * 300 + "a<b")
    assert _err(exc)[1] == "Invalid FilterExpression: The expression contains too many operators; operator count: 301"


def test_conditional_operator_needs_expected(ddb: Any, table: str) -> None:
    put = {"a": {"Action": "PUT", "Value": {"N": "1"}}}
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.update_item(TableName=table, Key={"pk": {"S": "k"}}, AttributeUpdates=put, Expected={},
                        ConditionalOperator="OR")
    assert _err(exc) == ("ValidationException",
                         "ConditionalOperator can only be used when Filter or Expected has two or more elements")
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=table, Item={"pk": {"S": "k"}}, ConditionalOperator="AND")
    assert _err(exc) == ("ValidationException", "ConditionalOperator cannot be used without Filter or Expected")
    ddb.update_item(TableName=table, Key={"pk": {"S": "k"}}, AttributeUpdates=put, Expected={})


def test_key_conditions_operator_is_an_enum(ddb: Any, range_table: str) -> None:
    for operator in ("eq", "DOG"):
        with pytest.raises(ddb.exceptions.ClientError) as exc:
            ddb.query(TableName=range_table, KeyConditions={
                "pk": {"AttributeValueList": [{"S": "p"}], "ComparisonOperator": operator}})
        code, message = _err(exc)
        assert code == "ValidationException"
        assert message.startswith(f"1 validation error detected: Value '{operator}' at "
                                  "'keyConditions.pk.member.comparisonOperator' failed to satisfy constraint")
