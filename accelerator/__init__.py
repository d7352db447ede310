"""A DAX-like cache accelerator that speaks DynamoDB's JSON API."""

__version__ = "0.1.0"
