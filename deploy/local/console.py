"""The launcher's terminal output: one line per log line, prefixed with the (coloured) source name."""

from __future__ import annotations

import os
import threading
from typing import IO

_RESET = "\x1b[0m"
_COLOURS = {
    "launcher": "\x1b[1;34m",
    "config-api": "\x1b[36m",
    "dispatcher": "\x1b[35m",
    "delivery-worker": "\x1b[32m",
    "dlq-replayer": "\x1b[33m",
}
_WIDTH = max(len(name) for name in _COLOURS)


def colour_wanted(stream: IO[str]) -> bool:
    """Colour on a terminal unless NO_COLOR is set; FORCE_COLOR forces it (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


class Console:
    """Writes prefixed lines from several threads without interleaving them."""

    def __init__(self, stream: IO[str], colour: bool) -> None:
        self._stream = stream
        self._colour = colour
        self._lock = threading.Lock()

    def line(self, source: str, text: str) -> None:
        """Write ``text`` with the ``source`` prefix."""
        prefix = f"{source:<{_WIDTH}} |"
        if self._colour:
            prefix = f"{_COLOURS.get(source, '')}{prefix}{_RESET}"
        with self._lock:
            try:
                self._stream.write(f"{prefix} {text}\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # our own output went away (closed pipe): keep supervising regardless

    def say(self, text: str) -> None:
        """A message of the launcher itself."""
        self.line("launcher", text)

    def pump(self, source: str, pipe: IO[bytes]) -> threading.Thread:
        """Copy ``pipe`` line by line to the console in a daemon thread until it closes."""

        def run() -> None:
            with pipe:
                for raw in iter(pipe.readline, b""):
                    self.line(source, raw.decode("utf-8", "replace").rstrip("\n"))

        thread = threading.Thread(target=run, name=f"log-{source}", daemon=True)
        thread.start()
        return thread
