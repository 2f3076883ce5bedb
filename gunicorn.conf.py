"""gunicorn's settings for reviewflow, read by gunicorn itself when it starts in the repository root
(``./gunicorn.conf.py`` is its default configuration file): the command line of the README and of
``make bench`` stays ``gunicorn -w N 'reviewflow:create_app()'``.

Only the garbage collector is tuned here. A worker keeps tens of thousands of long-lived objects: the
app, its templates and SQLAlchemy's caches, and the finished public pages in memory
(``public.pagecache``). Python's full collections walk every one of them, and a staff page allocates
enough to trigger one every few requests: at the benchmark's size, with every live article finished
in the worker, the editor's dashboard took 18 ms at the median and 118 ms at the 99th percentile,
the whole difference being collections (measured in-process, 200 requests). So after the app is
loaded, what exists then is moved out of the collector's sight (``gc.freeze``), and a full collection
waits for 100 collections of the middle generation instead of 10; the 99th percentile was then 25 ms.
Reference counting frees everything as before; only reference cycles wait a little longer.
"""
from __future__ import annotations

import gc

#: Young-generation threshold (CPython's default), middle, and how many middle-generation collections a
#: full one waits for (10 by default).
GC_THRESHOLDS = (700, 10, 100)


def post_worker_init(worker) -> None:
    """In each worker, once the application is loaded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
