"""A small text progress bar on stderr: redrawn in place on a terminal, a line every 10 % otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    """``Progress(total, label)``; call ``update(done, note)`` as work advances and ``finish()`` at the end."""

    WIDTH = 30

    def __init__(self, total: int, label: str, stream=None) -> None:
        self.total, self.label = max(1, int(total)), label
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_decile = -1
        self.done = 0

    def update(self, done: int, note: str = "") -> None:
        self.done = min(done, self.total)
        now = time.perf_counter()
        if self.tty:
            if now - self.last_draw < 0.1 and self.done < self.total:
                return
            self.last_draw = now
            self.stream.write("\r" + self._line(note) + "\033[K")
            self.stream.flush()
            return
        decile = self.done * 10 // self.total
        if decile != self.last_decile:
            self.last_decile = decile
            self.stream.write(self._line(note) + "\n")
            self.stream.flush()

    def _line(self, note: str) -> str:
        frac = self.done / self.total
        filled = int(frac * self.WIDTH)
        elapsed = time.perf_counter() - self.started
        eta = (elapsed / frac - elapsed) if frac > 0 else 0.0
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return (f"  {self.label:<14} [{bar}] {frac * 100:5.1f}% {self.done:>10,}/{self.total:,} "
                f"{elapsed:6.1f}s eta {eta:5.1f}s {note}")

    def finish(self, note: str = "") -> None:
        self.done = self.total
        if self.tty:
            self.stream.write("\r" + self._line(note) + "\033[K\n")
        elif self.last_decile != 10:
            self.stream.write(self._line(note) + "\n")
        self.stream.flush()
