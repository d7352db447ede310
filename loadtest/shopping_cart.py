"""Shopping cart: add/remove lines, view the cart, check out in one transaction.

- add a line: UpdateItem ``ADD qty :one`` (creates the line if absent): half the time one of the two
  products this customer keeps buying (its preloaded lines), half the time a Zipf-popular product;
- remove a line: UpdateItem ``ADD qty :minus_one`` on one of those two, with ``qty > :zero`` (a failed
  condition, after a checkout emptied the cart, is an expected outcome, counted as ``condfail``);
- view the cart: Query by customer (eventually consistent: served by the query cache);
- checkout: a consistent Query of the cart, then TransactWriteItems: the order written (``attribute_not_exists``),
  each product's stock decremented with the condition ``stock >= :qty``, and each cart line deleted with the
  condition that it still has the quantity just read (an optimistic check: a concurrent add cancels it).
Customers (``LOADTEST_KEYS``) are chosen Zipf(0.99); products are a tenth as many, also Zipf.
Mix per 100 tasks: 70 views, 15 adds, 10 removes, 5 checkouts (2 requests each). Every write to a cart
invalidates that customer's cached queries, and the hottest customers are also the busiest writers, so
the query-cache hit ratio here is low by nature (the session-store and hot-keys scenarios are read-heavy).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

if not __package__:  # loaded by path as a locustfile (locust -f loadtest/x.py): make the repo importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locust import task  # noqa: E402

from loadtest.common import DynamoUser, N, Preload, S, Scenario, env_int, install_cli_hooks, table_spec  # noqa: E402
from loadtest.zipf import Zipf  # noqa: E402

__all__ = ["ShoppingCartUser", "SCENARIO"]

PREFIX = os.environ.get("LOADTEST_TABLE_PREFIX", "lt_")
CARTS, PRODUCTS, ORDERS = PREFIX + "carts", PREFIX + "products", PREFIX + "orders"
INITIAL_STOCK = 1_000_000_000
MAX_LINES = 30  # 1 order + 2 per line stays under TransactWriteItems' 100 actions


def _customer(i: int) -> str:
    return f"cust{i:08d}"


def _product(j: int) -> str:
    return f"prod{j:06d}"


def _price(j: int) -> int:
    return 100 + (j * 7919) % 9900  # cents


def _usual(i: int, products: int) -> tuple[int, int]:
    """The two products customer ``i`` has in the preloaded cart (and keeps adding and removing)."""
    return (i * 31) % products, (i * 17 + 3) % products


class ShoppingCartUser(DynamoUser):
    keys = env_int("LOADTEST_KEYS", 10_000)
    _zipfs: tuple[Zipf, Zipf] | None = None

    @classmethod
    def products(cls) -> int:
        return max(10, cls.keys // 10)

    def on_start(self) -> None:
        cls = type(self)
        if cls._zipfs is None or cls._zipfs[0].n != cls.keys:
            cls._zipfs = (Zipf(cls.keys, seed=1), Zipf(cls.products(), seed=2))
        self.customers, self.catalogue = cls._zipfs

    def _line_key(self, customer: str, product: str) -> dict[str, Any]:
        return {"customer_id": S(customer), "product_id": S(product)}

    @task(70)
    def view_cart(self) -> None:
        self.call("Query", {"TableName": CARTS, "KeyConditionExpression": "customer_id = :c",
                            "FilterExpression": "qty > :zero",
                            "ExpressionAttributeValues": {":c": S(_customer(self.customers.draw(self.rng))),
                                                          ":zero": N(0)}}, "view-cart")

    def _usual_product(self, i: int) -> int:
        """One of the two products customer ``i`` keeps buying (its preloaded lines)."""
        return _usual(i, self.products())[self.rng.random() < 0.5]

    @task(15)
    def add_line(self) -> None:
        i = self.customers.draw(self.rng)
        j = self._usual_product(i) if self.rng.random() < 0.5 else self.catalogue.draw(self.rng)
        self.call("UpdateItem", {
            "TableName": CARTS, "Key": self._line_key(_customer(i), _product(j)),
            "UpdateExpression": "ADD qty :one SET price = :price, added_at = if_not_exists(added_at, :now)",
            "ExpressionAttributeValues": {":one": N(1), ":price": N(_price(j)), ":now": N(int(time.time()))},
        }, "add-line")

    @task(10)
    def remove_line(self) -> None:
        i = self.customers.draw(self.rng)
        key = self._line_key(_customer(i), _product(self._usual_product(i)))
        self.call("UpdateItem", {
            "TableName": CARTS, "Key": key, "UpdateExpression": "ADD qty :minus_one",
            "ConditionExpression": "qty > :zero",
            "ExpressionAttributeValues": {":minus_one": N(-1), ":zero": N(0)},
        }, "remove-line")

    @task(5)
    def checkout(self) -> None:
        customer = _customer(self.customers.draw(self.rng))
        cart = self.call("Query", {"TableName": CARTS, "KeyConditionExpression": "customer_id = :c",
                                   "ConsistentRead": True, "ExpressionAttributeValues": {":c": S(customer)}},
                         "checkout-read")
        lines = (cart or {}).get("Items", [])[:MAX_LINES]
        if not lines:
            return
        self.call("TransactWriteItems", {"TransactItems": _checkout_actions(customer, lines)}, "checkout")


def _checkout_actions(customer: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = int(time.time())
    ordered = [line for line in lines if int(float(line.get("qty", {}).get("N", "0"))) > 0]
    total = sum(int(line["qty"]["N"]) * int(float(line.get("price", {}).get("N", "0"))) for line in ordered)
    order = {"order_id": S(uuid.uuid4().hex), "customer_id": S(customer), "created_at": N(now),
             "total_cents": N(total),
             "lines": {"L": [{"M": {"product_id": line["product_id"], "qty": line["qty"]}} for line in ordered]}}
    actions: list[dict[str, Any]] = [{"Put": {"TableName": ORDERS, "Item": order,
                                              "ConditionExpression": "attribute_not_exists(order_id)"}}]
    for line in ordered:
        actions.append({"Update": {
            "TableName": PRODUCTS, "Key": {"product_id": line["product_id"]},
            "UpdateExpression": "SET stock = stock - :q", "ConditionExpression": "stock >= :q",
            "ExpressionAttributeValues": {":q": line["qty"]}}})
    for line in lines:
        actions.append({"Delete": {
            "TableName": CARTS, "Key": {"customer_id": line["customer_id"], "product_id": line["product_id"]},
            "ConditionExpression": "qty = :q", "ExpressionAttributeValues": {":q": line.get("qty", N(0))}}})
    return actions


def _preload() -> list[Preload]:
    customers, products = ShoppingCartUser.keys, ShoppingCartUser.products()

    def product_items() -> Iterator[dict[str, Any]]:
        for j in range(products):
            yield {"product_id": S(_product(j)), "name": S(f"Product {j}"), "price": N(_price(j)),
                   "stock": N(INITIAL_STOCK)}

    def cart_items() -> Iterator[dict[str, Any]]:
        now = int(time.time())
        for i in range(customers):
            for j in set(_usual(i, products)):
                yield {"customer_id": S(_customer(i)), "product_id": S(_product(j)), "qty": N(1 + i % 3),
                       "price": N(_price(j)), "added_at": N(now)}

    cart_lines = sum(len(set(_usual(i, products))) for i in range(customers))
    return [Preload(PRODUCTS, products, product_items), Preload(CARTS, cart_lines, cart_items)]


def _describe() -> dict[str, Any]:
    return {"customers": ShoppingCartUser.keys, "products": ShoppingCartUser.products(), "zipf_s": 0.99,
            "mix": "70% Query view-cart, 15% UpdateItem add-line, 10% UpdateItem remove-line, "
                   "5% checkout (consistent Query + TransactWriteItems)"}


SCENARIO = Scenario(
    name="shopping-cart", user=ShoppingCartUser,
    tables=lambda: [table_spec(CARTS, "customer_id", "product_id"), table_spec(PRODUCTS, "product_id"),
                    table_spec(ORDERS, "order_id")],
    preloads=_preload, describe=_describe)
install_cli_hooks(SCENARIO)
