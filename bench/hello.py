"""The ceiling: a bare Flask "hello world", served by the benchmark under the same gunicorn settings."""
from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
