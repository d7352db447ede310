"""/metrics parses as Prometheus text, with DAX's names typed right, and the shipped Grafana dashboard only
queries metrics the server exports."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from accelerator.metrics import Metrics
from tests.conftest import boto_client
from tests.server_process import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
COUNTERS = ("ItemCacheHits", "ItemCacheMisses", "QueryCacheHits", "QueryCacheMisses", "ScanCacheHits",
            "ScanCacheMisses", "EvictedSize", "accelerator_requests", "accelerator_errors")
GAUGES = ("EstimatedDbSize", "ItemCacheEntries", "QueryCacheBytes")


@pytest.fixture(scope="module")
def scraped() -> Iterator[dict[str, Any]]:
    server = ServerProcess({"kind": "memory"}).start()
    try:
        ddb = boto_client(server.url)
        ddb.create_table(TableName="metrics", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.put_item(TableName="metrics", Item={"pk": {"S": "a"}})
        for _ in range(3):
            ddb.get_item(TableName="metrics", Key={"pk": {"S": "a"}})
        ddb.query(TableName="metrics", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
        with pytest.raises(ClientError):
            ddb.get_item(TableName="absent", Key={"pk": {"S": "a"}})
        with pytest.raises(ClientError):  # a key the cache cannot read: it steps aside, and counts it
            ddb.get_item(TableName="metrics", Key={"pk": {"N": "1"}})
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
            text, ctype = r.read().decode(), r.headers["content-type"]
        yield {"families": {f.name: f for f in text_string_to_metric_families(text)}, "text": text, "ctype": ctype}
    finally:
        server.stop()


def test_metrics_are_typed_prometheus_families(scraped: dict[str, Any]) -> None:
    families = scraped["families"]
    assert scraped["ctype"].startswith("text/plain")
    for name in COUNTERS:
        assert families[name].type == "counter", name
    for name in GAUGES:
        assert families[name].type == "gauge", name
    assert families["accelerator_request_seconds"].type == "histogram"
    assert families["accelerator_store_seconds"].type == "histogram"
    hits = families["ItemCacheHits"].samples[0]
    assert hits.name == "ItemCacheHits_total" and hits.value >= 2
    errors = {(s.labels["operation"], s.labels["type"]) for s in families["accelerator_errors"].samples
              if s.name.endswith("_total")}
    assert ("GetItem", "ResourceNotFoundException") in errors
    outcomes = {s.labels.get("cache") for s in families["accelerator_request_seconds"].samples}
    assert {"hit", "miss"} <= outcomes
    stored = {s.labels["operation"] for s in families["accelerator_store_seconds"].samples}
    assert "PutItem" in stored and "GetItem" in stored


def test_cache_fallbacks_are_counted_by_table_and_reason(scraped: dict[str, Any]) -> None:
    family = scraped["families"]["accelerator_cache_bypass"]
    assert family.type == "counter"
    counts = {(s.labels["table"], s.labels["reason"]): s.value for s in family.samples if s.name.endswith("_total")}
    assert counts[("metrics", "key not understood")] == 1
    assert scraped["families"]["accelerator_swallowed_errors"].type == "counter"
    assert scraped["families"]["accelerator_cache_broadcast_malformed"].type == "counter"


def test_label_values_are_escaped() -> None:
    m = Metrics()
    odd = 'Weird"Type\\with\nnewline'
    m.error("GetItem", odd)
    m.counter("labelled", lambda: {("a\"b",): 3.0}, labels=["who"])
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    assert families["accelerator_errors"].samples[0].labels["type"] == odd
    assert families["labelled"].samples[0].labels["who"] == 'a"b'


def _queried_metrics(dashboard: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            # every metric reference in the dashboard carries a selector, so a name is what precedes "{"
            names |= set(re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\{", target["expr"]))
    return names


def test_grafana_dashboard_queries_only_exported_metrics(scraped: dict[str, Any]) -> None:
    dashboard = json.loads((ROOT / "configs" / "grafana" / "accelerator.json").read_text())
    exported = {s.name for f in scraped["families"].values() for s in f.samples}
    exported |= {f.name for f in scraped["families"].values()}
    # a counter that has not counted anything yet is exported (HELP and TYPE) with no sample
    exported |= {f.name + "_total" for f in scraped["families"].values() if f.type == "counter"}
    queried = _queried_metrics(dashboard)
    assert len(queried) >= 10
    assert queried <= exported, f"the dashboard queries metrics /metrics does not export: {queried - exported}"
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("hit ratio", "latency", "evictions", "errors", "store latency", "bypass"):
        assert topic in titles, topic
