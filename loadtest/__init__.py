"""Load tests: Locust scenarios (session store, shopping cart, hot keys) and a headless runner.

Each scenario module is a plain locustfile (``locust -f loadtest/hot_keys.py --host URL`` works) that
sends raw DynamoDB JSON 1.0 over HTTP keep-alive, so it measures the server, not an SDK. ``runner.main``
starts a server, preloads data, runs Locust in-process and writes ``results/<scenario>-<time>/``.
"""

SCENARIOS = {
    "session-store": "loadtest.session_store",
    "shopping-cart": "loadtest.shopping_cart",
    "hot-keys": "loadtest.hot_keys",
}

__all__ = ["SCENARIOS"]
