"""The ceiling: a bare Flask "hello world", served by the benchmark under the same gunicorn settings.

Every path answers, so that the same wrk script that asks for random article paths can be run against
it: the ceiling measured with the load generator doing the same work (``hello_random`` in the report).
"""
from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"


@app.get("/<path:anything>")
def hello_anywhere(anything: str) -> str:
    return "Hello, World!"
