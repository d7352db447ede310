"""The policy evaluator against a table of cases: wildcards, NotAction/NotResource, Deny precedence,
condition operators and set qualifiers, fail-closed unknown values, document validation, and what each
DynamoDB request contributes (targets, leading keys, attributes)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from accelerator.core.context import PRINCIPAL
from accelerator.core.errors import AccessDeniedException
from accelerator.policy import Decision, Enforcer, PolicyError, PolicySet, load_policies, parse_document
from accelerator.policy.conditions import UNKNOWN
from accelerator.policy.requests import attributes, query_partition, select_of, table_arn, targets

ARN = table_arn("T")
OTHER = table_arn("Other")
INDEX = table_arn("T", "byEmail")


def _allow(action: Any = "dynamodb:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def _deny(action: Any = "dynamodb:*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def _decide(statements: list[dict[str, Any]], action: str, resource: str,
            context: dict[str, Any] | None = None) -> Decision:
    policies = PolicySet({"K": parse_document({"Version": "2012-10-17", "Statement": statements})})
    return policies.decide("K", action, resource, lambda keys: context or {})


ALLOW, IMPLICIT, EXPLICIT = Decision.ALLOW, Decision.IMPLICIT_DENY, Decision.EXPLICIT_DENY
LEADING_ME = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["u1"]}}

CASES: list[tuple[str, list[dict[str, Any]], str, str, dict[str, Any] | None, Decision]] = [
    ("no statement covers it", [_allow("dynamodb:GetItem", OTHER)], "dynamodb:GetItem", ARN, None, IMPLICIT),
    ("exact action and table", [_allow("dynamodb:GetItem", ARN)], "dynamodb:GetItem", ARN, None, ALLOW),
    ("action names ignore case", [_allow("DynamoDB:getitem", ARN)], "dynamodb:GetItem", ARN, None, ALLOW),
    ("resources are case-sensitive", [_allow("dynamodb:GetItem", table_arn("t"))], "dynamodb:GetItem", ARN, None,
     IMPLICIT),
    ("action wildcard Get*", [_allow("dynamodb:Get*", ARN)], "dynamodb:GetItem", ARN, None, ALLOW),
    ("Get* does not cover PutItem", [_allow("dynamodb:Get*", ARN)], "dynamodb:PutItem", ARN, None, IMPLICIT),
    ("? matches one character", [_allow("dynamodb:?etItem", ARN)], "dynamodb:GetItem", ARN, None, ALLOW),
    ("region and account wildcards", [_allow("dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/T")],
     "dynamodb:GetItem", ARN, None, ALLOW),
    ("table ARN does not cover its index", [_allow("dynamodb:Query", ARN)], "dynamodb:Query", INDEX, None,
     IMPLICIT),
    ("index wildcard", [_allow("dynamodb:Query", ARN + "/index/*")], "dynamodb:Query", INDEX, None, ALLOW),
    ("table/T* covers T's indexes", [_allow("dynamodb:Query", "arn:aws:dynamodb:*:*:table/T*")],
     "dynamodb:Query", INDEX, None, ALLOW),
    ("NotAction", [{"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"}], "dynamodb:DeleteItem",
     ARN, None, IMPLICIT),
    ("NotAction allows the rest", [{"Effect": "Allow", "NotAction": "dynamodb:Delete*", "Resource": "*"}],
     "dynamodb:PutItem", ARN, None, ALLOW),
    ("NotResource", [{"Effect": "Allow", "Action": "*", "NotResource": OTHER}], "dynamodb:GetItem", OTHER, None,
     IMPLICIT),
    ("explicit deny wins over allow", [_allow(), _deny("dynamodb:DeleteItem", ARN)], "dynamodb:DeleteItem", ARN,
     None, EXPLICIT),
    ("deny elsewhere leaves the allow", [_allow(), _deny("dynamodb:DeleteItem", OTHER)], "dynamodb:DeleteItem",
     ARN, None, ALLOW),
    ("admin action", [_allow("accelerator:FlushCache")], "accelerator:FlushCache", "*", None, ALLOW),
    ("dynamodb:* is not accelerator:*", [_allow()], "accelerator:FlushCache", "*", None, IMPLICIT),
    ("LeadingKeys all mine", [_allow(Condition=LEADING_ME)], "dynamodb:GetItem", ARN,
     {"dynamodb:LeadingKeys": ("u1",)}, ALLOW),
    ("LeadingKeys someone else's", [_allow(Condition=LEADING_ME)], "dynamodb:GetItem", ARN,
     {"dynamodb:LeadingKeys": ("u2",)}, IMPLICIT),
    ("LeadingKeys one of a batch is not mine", [_allow(Condition=LEADING_ME)], "dynamodb:BatchGetItem", ARN,
     {"dynamodb:LeadingKeys": ("u1", "u2")}, IMPLICIT),
    ("LeadingKeys unknown (Scan) never allows", [_allow(Condition=LEADING_ME)], "dynamodb:Scan", ARN,
     {"dynamodb:LeadingKeys": UNKNOWN}, IMPLICIT),
    ("ForAllValues on an absent key holds", [_allow(Condition=LEADING_ME)], "dynamodb:DescribeTable", ARN, {},
     ALLOW),
    ("ForAnyValue on an absent key fails", [_allow(Condition={"ForAnyValue:StringEquals": {
        "dynamodb:LeadingKeys": "u1"}})], "dynamodb:DescribeTable", ARN, {}, IMPLICIT),
    ("ForAnyValue one matches", [_allow(Condition={"ForAnyValue:StringEquals": {
        "dynamodb:Attributes": ["a", "z"]}})], "dynamodb:GetItem", ARN, {"dynamodb:Attributes": ("a", "b")},
     ALLOW),
    ("StringLike on attributes", [_allow(Condition={"ForAllValues:StringLike": {
        "dynamodb:Attributes": ["pk", "public_*"]}})], "dynamodb:GetItem", ARN,
     {"dynamodb:Attributes": ("pk", "public_name")}, ALLOW),
    ("StringLike refuses another", [_allow(Condition={"ForAllValues:StringLike": {
        "dynamodb:Attributes": ["pk", "public_*"]}})], "dynamodb:GetItem", ARN,
     {"dynamodb:Attributes": ("pk", "secret")}, IMPLICIT),
    ("whole-item read never passes an attribute list", [_allow(Condition={"ForAllValues:StringEquals": {
        "dynamodb:Attributes": ["pk"]}})], "dynamodb:GetItem", ARN, {"dynamodb:Attributes": UNKNOWN}, IMPLICIT),
    ("StringEqualsIfExists absent", [_allow(Condition={"StringEqualsIfExists": {
        "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}})], "dynamodb:PutItem", ARN, {}, ALLOW),
    ("StringEqualsIfExists present and wrong", [_allow(Condition={"StringEqualsIfExists": {
        "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}})], "dynamodb:Query", ARN,
     {"dynamodb:Select": ("ALL_ATTRIBUTES",)}, IMPLICIT),
    ("StringEquals on an absent key fails", [_allow(Condition={"StringEquals": {
        "dynamodb:ReturnValues": "NONE"}})], "dynamodb:PutItem", ARN, {}, IMPLICIT),
    ("StringNotEquals on an absent key holds", [_allow(Condition={"StringNotEquals": {
        "dynamodb:ReturnValues": "ALL_OLD"}})], "dynamodb:PutItem", ARN, {}, ALLOW),
    ("StringNotEquals present and equal", [_allow(Condition={"StringNotEquals": {
        "dynamodb:ReturnValues": "ALL_OLD"}})], "dynamodb:PutItem", ARN, {"dynamodb:ReturnValues": ("ALL_OLD",)},
     IMPLICIT),
    ("StringEqualsIgnoreCase", [_allow(Condition={"StringEqualsIgnoreCase": {
        "dynamodb:ReturnConsumedCapacity": "none"}})], "dynamodb:GetItem", ARN,
     {"dynamodb:ReturnConsumedCapacity": ("NONE",)}, ALLOW),
    ("Null true: the key is absent", [_allow(Condition={"Null": {"dynamodb:Attributes": "true"}})],
     "dynamodb:GetItem", ARN, {}, ALLOW),
    ("Null true but present", [_allow(Condition={"Null": {"dynamodb:Attributes": "true"}})],
     "dynamodb:GetItem", ARN, {"dynamodb:Attributes": ("a",)}, IMPLICIT),
    ("conditional deny applies", [_allow(), _deny(Condition={"ForAnyValue:StringEquals": {
        "dynamodb:Attributes": "secret"}})], "dynamodb:GetItem", ARN, {"dynamodb:Attributes": ("pk", "secret")},
     EXPLICIT),
    ("conditional deny does not apply", [_allow(), _deny(Condition={"ForAnyValue:StringEquals": {
        "dynamodb:Attributes": "secret"}})], "dynamodb:GetItem", ARN, {"dynamodb:Attributes": ("pk",)}, ALLOW),
    ("an unknown value never escapes a deny", [_allow(), _deny(Condition={"ForAnyValue:StringEquals": {
        "dynamodb:Attributes": "secret"}})], "dynamodb:GetItem", ARN, {"dynamodb:Attributes": UNKNOWN}, EXPLICIT),
    ("no set operator on a batch's keys: all must match in an Allow", [_allow(Condition={"StringEquals": {
        "dynamodb:LeadingKeys": "u1"}})], "dynamodb:BatchGetItem", ARN, {"dynamodb:LeadingKeys": ("u1", "u2")},
     IMPLICIT),
    ("no set operator on a batch's keys: one match makes a Deny apply", [_allow(), _deny(Condition={
        "StringEquals": {"dynamodb:LeadingKeys": "u2"}})], "dynamodb:BatchGetItem", ARN,
     {"dynamodb:LeadingKeys": ("u1", "u2")}, EXPLICIT),
    ("condition key names ignore case", [_allow(Condition={"ForAllValues:StringEquals": {
        "DynamoDB:leadingkeys": "u1"}})], "dynamodb:GetItem", ARN, {"dynamodb:LeadingKeys": ("u2",)}, IMPLICIT),
]


@pytest.mark.parametrize(("statements", "action", "resource", "context", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decision_table(statements: list[dict[str, Any]], action: str, resource: str,
                        context: dict[str, Any] | None, expected: Decision) -> None:
    assert _decide(statements, action, resource, context) is expected


def test_no_policies_file_allows_everyone_and_a_file_denies_unnamed_keys() -> None:
    assert PolicySet(None).allowed(None, "dynamodb:DeleteTable", ARN)
    assert PolicySet(None).allowed("anyone", "accelerator:FlushCache", "*")
    named = PolicySet({"K": parse_document({"Statement": _allow()})})
    assert named.allowed("K", "dynamodb:GetItem", ARN)
    assert not named.allowed("stranger", "dynamodb:GetItem", ARN)
    assert not named.allowed(None, "dynamodb:GetItem", ARN)


BAD_DOCUMENTS: list[tuple[Any, str]] = [
    ([], "must be a JSON object"),
    ({"Version": "2020-01-01", "Statement": [_allow()]}, "Version must be one of"),
    ({"Statement": []}, "Statement must be an object or a non-empty list"),
    ({"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}, 'Statement[0].Effect must be "Allow"'),
    ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "exactly one of Action or NotAction"),
    ({"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "*", "Resource": "*"}]},
     "exactly one of Action or NotAction"),
    ({"Statement": [{"Effect": "Allow", "Action": "*"}]}, "exactly one of Resource or NotResource"),
    ({"Statement": [_allow("GetItem")]}, "is not \"service:Action\""),
    ({"Statement": [_allow([])]}, "non-empty string or list"),
    ({"Statement": [_allow(resource="table/T")]}, "neither an ARN"),
    ({"Statement": [_allow(Principal="*")]}, "Principal is not allowed"),
    ({"Statement": [_allow(Effects="Allow")]}, "unknown element(s) Effects"),
    ({"Statement": [_allow(Condition={"NumericEquals": {"dynamodb:Select": "1"}})]},
     "unsupported condition operator 'NumericEquals'"),
    ({"Statement": [_allow(Condition={"ForSomeValues:StringEquals": {"dynamodb:Select": "x"}})]},
     "unsupported set operator"),
    ({"Statement": [_allow(Condition={"StringEquals": {"aws:SourceIp": "1.2.3.4"}})]},
     "unsupported condition key 'aws:SourceIp'"),
    ({"Statement": [_allow(Condition={"StringEquals": {"dynamodb:Select": []}})]}, "non-empty list of strings"),
    ({"Statement": [_allow(Condition={"StringEquals": {"dynamodb:LeadingKeys": "${aws:username}"}})]},
     "policy variables"),
    ({"Statement": [_allow(Condition={"Null": {"dynamodb:Select": "maybe"}})]}, "Null on dynamodb:Select"),
    ({"Statement": [_allow(Condition=[])]}, "Condition must be an object"),
]


@pytest.mark.parametrize(("document", "message"), BAD_DOCUMENTS, ids=[m for _, m in BAD_DOCUMENTS])
def test_bad_documents_are_one_clear_error(tmp_path: Path, document: Any, message: str) -> None:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"AKIDGOOD": {"Statement": _allow()}, "AKIDBAD": document}))
    with pytest.raises(PolicyError) as exc:
        load_policies(path)
    text = str(exc.value)
    assert message in text
    assert text.startswith(f"policies file {path}: access key 'AKIDBAD': ")
    assert "\n" not in text


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"), ("[]", "must be a JSON object mapping"), (None, "cannot read it")])
def test_bad_policies_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "policies.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PolicyError, match=message):
        load_policies(path)


# -- what requests contribute ----------------------------------------------------------------------------------
def _one(operation: str, request: dict[str, Any]) -> Any:
    [target] = targets(operation, request)
    return target


@pytest.mark.parametrize(("operation", "request_body", "expected"), [
    ("GetItem", {"TableName": "T", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#n, b.c[1]",
                 "ExpressionAttributeNames": {"#n": "name"}}, {"pk", "name", "b"}),
    ("GetItem", {"TableName": "T", "Key": {"pk": {"S": "a"}}, "AttributesToGet": ["x"]}, {"pk", "x"}),
    ("GetItem", {"TableName": "T", "Key": {"pk": {"S": "a"}}}, UNKNOWN),
    ("GetItem", {"TableName": "T", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": "#missing"}, UNKNOWN),
    ("PutItem", {"TableName": "T", "Item": {"pk": {"S": "a"}, "v": {"N": "1"}},
                 "ConditionExpression": "attribute_not_exists(#s) OR size(q) > :n",
                 "ExpressionAttributeNames": {"#s": "secret"}}, {"pk", "v", "secret", "q"}),
    ("PutItem", {"TableName": "T", "Item": {"pk": {"S": "a"}}, "ReturnValues": "ALL_OLD"}, UNKNOWN),
    ("UpdateItem", {"TableName": "T", "Key": {"pk": {"S": "a"}},
                    "UpdateExpression": "SET a = if_not_exists(b, :z) + :one REMOVE c ADD d :s",
                    "Expected": {"e": {"Exists": False}}}, {"pk", "a", "b", "c", "d", "e"}),
    ("UpdateItem", {"TableName": "T", "Key": {"pk": {"S": "a"}}, "AttributeUpdates": {"f": {"Action": "DELETE"}},
                    "ReturnValues": "UPDATED_NEW"}, {"pk", "f"}),
    ("UpdateItem", {"TableName": "T", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET a = :v",
                    "ReturnValues": "ALL_NEW"}, UNKNOWN),
    ("DeleteItem", {"TableName": "T", "Key": {"pk": {"S": "a"}}}, UNKNOWN),
    ("Query", {"TableName": "T", "KeyConditionExpression": "pk = :p", "ProjectionExpression": "a",
               "FilterExpression": "b BETWEEN :x AND :y"}, {"pk", "a", "b"}),
    ("Query", {"TableName": "T", "KeyConditionExpression": "pk = :p", "Select": "COUNT",
               "FilterExpression": "c IN (:x)"}, {"pk", "c"}),
    ("Query", {"TableName": "T", "KeyConditionExpression": "pk = :p"}, UNKNOWN),
    ("Scan", {"TableName": "T", "Select": "SPECIFIC_ATTRIBUTES", "AttributesToGet": ["a"],
              "ScanFilter": {"z": {"ComparisonOperator": "NULL"}}}, {"a", "z"}),
])
def test_attributes_a_request_touches(operation: str, request_body: dict[str, Any], expected: Any) -> None:
    found = attributes(_one(operation, request_body))
    assert found is UNKNOWN if expected is UNKNOWN else set(found) == expected


def test_select_defaults_as_dynamodb_does() -> None:
    assert select_of(_one("GetItem", {"TableName": "T", "Key": {}})) == "ALL_ATTRIBUTES"
    assert select_of(_one("Query", {"TableName": "T", "IndexName": "i"})) == "ALL_PROJECTED_ATTRIBUTES"
    assert select_of(_one("Scan", {"TableName": "T", "ProjectionExpression": "a"})) == "SPECIFIC_ATTRIBUTES"
    assert select_of(_one("Scan", {"TableName": "T", "Select": "COUNT"})) == "COUNT"
    assert select_of(_one("PutItem", {"TableName": "T", "Item": {}})) is None


@pytest.mark.parametrize(("request_body", "expected"), [
    ({"KeyConditionExpression": "pk = :p AND sk > :s", "ExpressionAttributeValues": {":p": {"S": "u1"}}}, "u1"),
    ({"KeyConditionExpression": ":p = #k", "ExpressionAttributeNames": {"#k": "pk"},
      "ExpressionAttributeValues": {":p": {"N": "7"}}}, "7"),
    ({"KeyConditionExpression": "sk = :p", "ExpressionAttributeValues": {":p": {"S": "u1"}}}, None),
    ({"KeyConditionExpression": "pk > :p", "ExpressionAttributeValues": {":p": {"S": "u1"}}}, None),
    ({"KeyConditionExpression": "pk = :missing"}, None),
    ({"KeyConditionExpression": "pk = = :p"}, None),
    ({"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "u1"}]}}}, "u1"),
    ({"KeyConditions": {"pk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "u"}]}}}, None),
])
def test_query_partition_value(request_body: dict[str, Any], expected: str | None) -> None:
    assert query_partition(request_body, "pk") == expected


def test_batch_and_transact_targets() -> None:
    batch = targets("BatchGetItem", {"RequestItems": {"A": {"Keys": [{"pk": {"S": "1"}}, {"pk": {"S": "2"}}]},
                                                      "B": {"Keys": [{"pk": {"S": "3"}}]}}})
    assert [(t.action, t.resource, len(t.keys or ())) for t in batch] == [
        ("dynamodb:BatchGetItem", table_arn("A"), 2), ("dynamodb:BatchGetItem", table_arn("B"), 1)]
    write = targets("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "A", "Item": {"pk": {"S": "1"}}}},
        {"Update": {"TableName": "A", "Key": {"pk": {"S": "1"}}, "UpdateExpression": "SET a = :a"}},
        {"Delete": {"TableName": "B", "Key": {"pk": {"S": "1"}}}},
        {"ConditionCheck": {"TableName": "B", "Key": {"pk": {"S": "1"}}, "ConditionExpression": "x = :x"}}]})
    assert [t.action for t in write] == ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                         "dynamodb:ConditionCheckItem"]
    assert [t.resource for t in targets("ListTables", {})] == ["*"]
    assert [t.resource for t in targets("Query", {"TableName": "T", "IndexName": "byEmail"})] == [INDEX]


# -- the enforcer ----------------------------------------------------------------------------------------------
def _enforcer(document: dict[str, Any], hash_names: dict[str, str]) -> tuple[Enforcer, list[str]]:
    described: list[str] = []

    async def describe(table: str) -> dict[str, Any]:
        described.append(table)
        return {"Table": {"KeySchema": [{"AttributeName": hash_names[table], "KeyType": "HASH"}],
                          "GlobalSecondaryIndexes": [{"IndexName": "byEmail", "KeySchema": [
                              {"AttributeName": "email", "KeyType": "HASH"}]}]}}

    return Enforcer(PolicySet({"K": parse_document(document)}), describe), described


def _authorize(enforcer: Enforcer, operation: str, request: dict[str, Any], principal: str | None = "K") -> str:
    async def run() -> str:
        PRINCIPAL.set(principal)
        try:
            pending = enforcer.authorize(operation, request)
            if pending is not None:
                await pending
        except AccessDeniedException as exc:
            return exc.message
        return "allowed"
    return asyncio.run(run())


def test_enforcer_leading_keys_and_messages() -> None:
    enforcer, described = _enforcer({"Statement": [
        _allow(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem"],
               "arn:aws:dynamodb:*:*:table/T*", Condition=LEADING_ME),
        _deny("dynamodb:DeleteTable")]}, {"T": "pk"})
    get = {"TableName": "T", "Key": {"pk": {"S": "u1"}}}
    assert _authorize(enforcer, "GetItem", get) == "allowed"
    assert described == ["T"]
    assert _authorize(enforcer, "GetItem", get) == "allowed"
    assert described == ["T"], "the schema is learned once"
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u2"}}}) == (
        f"User: arn:aws:iam::000000000000:user/K is not authorized to perform: dynamodb:GetItem on resource: {ARN} "
        "because no identity-based policy allows the dynamodb:GetItem action")
    assert _authorize(enforcer, "DeleteTable", {"TableName": "T"}) == (
        f"User: arn:aws:iam::000000000000:user/K is not authorized to perform: dynamodb:DeleteTable on resource: "
        f"{ARN} with an explicit deny in an identity-based policy")
    assert _authorize(enforcer, "GetItem", get, principal="stranger").startswith(
        "User: arn:aws:iam::000000000000:user/stranger is not authorized")
    assert _authorize(enforcer, "Scan", {"TableName": "T"}) != "allowed"
    query = {"TableName": "T", "IndexName": "byEmail", "KeyConditionExpression": "email = :e",
             "ExpressionAttributeValues": {":e": {"S": "u1"}}}
    assert _authorize(enforcer, "Query", query) == "allowed", "an index query is checked on the index's key"
    query["ExpressionAttributeValues"] = {":e": {"S": "u2"}}
    assert _authorize(enforcer, "Query", query) != "allowed"
    batch = {"RequestItems": {"T": [{"PutRequest": {"Item": {"pk": {"S": "u1"}}}},
                                    {"PutRequest": {"Item": {"pk": {"S": "u2"}}}}]}}
    assert _authorize(enforcer, "BatchWriteItem", batch) != "allowed", "one forbidden item denies the whole batch"


def test_enforcer_relearns_a_changed_key_schema() -> None:
    hash_names = {"T": "pk"}
    enforcer, described = _enforcer({"Statement": [_allow(Condition=LEADING_ME)]}, hash_names)
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u1"}}}) == "allowed"
    hash_names["T"] = "id"  # re-created elsewhere with another partition key
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"id": {"S": "u1"}}}) == "allowed"
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"id": {"S": "u2"}}}) != "allowed"
    assert described == ["T", "T"]
    enforcer.forget("T")
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"id": {"S": "u1"}}}) == "allowed"
    assert described == ["T", "T", "T"]


def test_enforcer_fails_closed_when_the_table_cannot_be_described() -> None:
    async def describe(table: str) -> dict[str, Any]:
        raise RuntimeError("no such table")

    enforcer = Enforcer(PolicySet({"K": parse_document({"Statement": [_allow(Condition=LEADING_ME)]})}), describe)
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u1"}}}) != "allowed"


@pytest.mark.parametrize(("patterns", "ignore_case", "text", "expected"), [
    (["user#*"], False, "user#42", True),
    (["user#*"], False, "User#42", False),
    (["user#*"], False, "user", False),
    (["dynamodb:Get*"], True, "DYNAMODB:GETITEM", True),
    (["a*b"], False, "a-x-b", True),
    (["a*b"], False, "a-x-bc", False),
    (["a?c"], False, "abc", True),
    (["a?c"], False, "ac", False),
    (["x.y"], False, "xzy", False),  # regex characters are literal
    (["*"], False, "", True),
    (["exact"], False, "exact", True),
    (["exact"], False, "exactly", False),
])
def test_patterns(patterns: list[str], ignore_case: bool, text: str, expected: bool) -> None:
    from accelerator.policy.patterns import Pattern

    assert Pattern(patterns, ignore_case).match(text) is expected


def test_other_nodes_schema_changes_make_the_enforcer_relearn() -> None:
    from accelerator.cache import CachedStore
    from accelerator.cache.invalidation import EVERYTHING, Invalidation
    from accelerator.engine import TableEngine
    from backends import open_storage

    hash_names = {"T": "pk", "U": "pk"}
    enforcer, described = _enforcer({"Statement": [_allow(Condition=LEADING_ME)]}, hash_names)
    store = CachedStore(TableEngine(open_storage("memory")))
    store.schema_listeners.append(enforcer.forget)
    for table in ("T", "U"):
        assert _authorize(enforcer, "GetItem", {"TableName": table, "Key": {"pk": {"S": "u1"}}}) == "allowed"
    store.apply_invalidation(Invalidation("T", ((b"k", b""),), origin=store.node_id + 1))  # an item write
    store.apply_invalidation(Invalidation("T", None, origin=store.node_id))  # this node's own message
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u1"}}}) == "allowed"
    assert described == ["T", "U"]
    store.apply_invalidation(Invalidation("T", None, origin=store.node_id + 1))
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u1"}}}) == "allowed"
    assert described == ["T", "U", "T"]
    store.apply_invalidation(Invalidation(EVERYTHING, None, origin=store.node_id + 1))
    for table in ("T", "U"):
        assert _authorize(enforcer, "GetItem", {"TableName": table, "Key": {"pk": {"S": "u1"}}}) == "allowed"
    assert described == ["T", "U", "T", "T", "U"]


BACKUP = "arn:aws:dynamodb:ddblocal:000000000000:table/T/backup/01234567890123-abcdefgh"


@pytest.mark.parametrize(("operation", "request_body", "resources"), [
    ("CreateBackup", {"TableName": "T", "BackupName": "b"}, [ARN]),
    ("DescribeBackup", {"BackupArn": BACKUP}, [BACKUP]),
    ("DeleteBackup", {"BackupArn": BACKUP}, [BACKUP]),
    ("ListBackups", {}, ["*"]),
    ("RestoreTableFromBackup", {"BackupArn": BACKUP, "TargetTableName": "Other"}, [BACKUP, OTHER]),
    ("RestoreTableToPointInTime", {"SourceTableName": "T", "TargetTableName": "Other"}, [ARN, OTHER]),
    ("RestoreTableToPointInTime", {"SourceTableArn": ARN, "TargetTableName": "Other"}, [ARN, OTHER]),
    ("ExportTableToPointInTime", {"TableArn": ARN, "S3Bucket": "b"}, [ARN]),
    ("ImportTable", {"TableCreationParameters": {"TableName": "Other"}}, [OTHER]),
    ("TagResource", {"ResourceArn": ARN, "Tags": []}, [ARN]),
    ("SomeFutureOperation", {}, ["*"]),
])
def test_control_plane_resources(operation: str, request_body: dict[str, Any], resources: list[str]) -> None:
    assert [t.resource for t in targets(operation, request_body)] == resources
    assert {t.action for t in targets(operation, request_body)} == {f"dynamodb:{operation}"}


def test_a_shared_table_epoch_makes_workers_relearn() -> None:
    from accelerator.cache.shared import SharedGenerations

    shared = SharedGenerations(slots=1 << 10, epochs=1 << 4)
    hash_names = {"T": "pk"}
    enforcer, described = _enforcer({"Statement": [_allow(Condition=LEADING_ME)]}, hash_names)
    enforcer.version = shared.epoch
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u1"}, "sk": {"S": "x"}}}) == \
        "allowed"
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u1"}, "sk": {"S": "x"}}}) == \
        "allowed"
    assert described == ["T"]
    hash_names["T"] = "sk"  # another worker re-created T with the key roles swapped, and bumped its epoch
    shared.bump_epoch("T")
    assert _authorize(enforcer, "GetItem", {"TableName": "T", "Key": {"pk": {"S": "u1"}, "sk": {"S": "x"}}}) != \
        "allowed", "the partition key is now sk, whose value is not the key's own"
    assert described == ["T", "T"]


def test_return_consumed_capacity_of_batches_and_transactions() -> None:
    enforcer, _ = _enforcer({"Statement": [_allow(Condition={"StringEqualsIfExists": {
        "dynamodb:ReturnConsumedCapacity": "NONE"}})]}, {"T": "pk"})
    keys = {"Keys": [{"pk": {"S": "u1"}}]}
    assert _authorize(enforcer, "BatchGetItem", {"RequestItems": {"T": keys}}) == "allowed"
    assert _authorize(enforcer, "BatchGetItem", {"RequestItems": {"T": keys}, "ReturnConsumedCapacity": "NONE"}) == \
        "allowed"
    assert _authorize(enforcer, "BatchGetItem", {"RequestItems": {"T": keys},
                                                 "ReturnConsumedCapacity": "TOTAL"}) != "allowed"
    get = {"TransactItems": [{"Get": {"TableName": "T", "Key": {"pk": {"S": "u1"}}}}],
           "ReturnConsumedCapacity": "INDEXES"}
    assert _authorize(enforcer, "TransactGetItems", get) != "allowed"


def test_resources_of_another_region_or_account_are_warned_about(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"K": {"Statement": [
        _allow("dynamodb:GetItem", ["arn:aws:dynamodb:us-west-2:123456789012:table/GameScores",
                                    "arn:aws:dynamodb:*:*:table/T", "arn:aws:dynamodb:ddblocal:000000000000:table/U",
                                    "arn:aws:dynamodb:ddb*:0*:table/V", "*"]),
        {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:dynamodb:eu-west-1:*:table/W"}]}}))
    with caplog.at_level("WARNING", logger="accelerator.policy"):
        policies = load_policies(path)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert warned[0].startswith(f"policies file {path}: access key 'K': Resource "
                                "arn:aws:dynamodb:us-west-2:123456789012:table/GameScores never matches")
    assert "arn:aws:dynamodb:eu-west-1:*:table/W" in warned[1]
    assert not policies.allowed("K", "dynamodb:GetItem", table_arn("GameScores"))


def test_admin_routes_get_aws_wording() -> None:
    enforcer, _ = _enforcer({"Statement": [_allow("accelerator:*"), _deny("accelerator:FlushCache", ARN)]}, {})
    assert enforcer.admit("K", "accelerator:DescribeCache", "*") is True
    with pytest.raises(AccessDeniedException, match=f"FlushCache on resource: {ARN} with an explicit deny"):
        enforcer.admit("K", "accelerator:FlushCache", ARN)
    with pytest.raises(AccessDeniedException, match="because no identity-based policy allows the "
                                                    "accelerator:FlushCache action"):
        enforcer.admit("stranger", "accelerator:FlushCache", "*")


def test_multi_attribute_partition_keys_have_unknown_leading_keys() -> None:
    from accelerator.policy.enforce import TableKeys

    keys = TableKeys.from_description({
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [{"IndexName": "multi", "KeySchema": [
            {"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "HASH"}]}]})
    assert (keys.partition(None), keys.partition("multi"), keys.partition("missing")) == ("pk", None, None)


@pytest.mark.parametrize("statement, element, effect", [
    ({"Effect": "Deny", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/secret"},
     "Resource", "Deny denies nothing"),
    ({"Effect": "Allow", "Action": "dynamodb:*", "NotResource": ["arn:aws:dynamodb:*:*:table/x",
                                                                  "arn:aws:dynamodb:us-east-1:*:table/secret"]},
     "NotResource", "Allow allows table/secret too"),
])
def test_foreign_resources_that_would_widen_access_stop_the_start(tmp_path: Path, statement: dict[str, Any],
                                                                  element: str, effect: str) -> None:
    """An AWS policy pasted as is: its Deny (or its Allow's exception) would never match here, so the key would
    get what the policy meant to refuse; a warning is not enough, loading fails."""
    path = tmp_path / "policies.json"
    path.write_text(json.dumps({"K": {"Statement": [_allow("dynamodb:*"), statement]}}))
    with pytest.raises(PolicyError) as exc:
        load_policies(path)
    assert str(exc.value) == (
        f"policies file {path}: access key 'K': Statement[1].{element}: "
        f"arn:aws:dynamodb:us-east-1:{'123456789012' if element == 'Resource' else '*'}:table/secret never matches "
        f"this server's ARNs (arn:aws:dynamodb:ddblocal:000000000000:table/NAME), so this {effect}: write * for "
        "the region and the account")
