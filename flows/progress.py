"""Progress of long work, for whoever watches: the terminal's bar and the UI's artifact."""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Register a listener (the CLI's progress bar); returns the function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def step_done(line: str) -> None:
    """Tell every listener one step finished, with a line saying what it was."""
    for listener in list(_listeners):
        listener(line)
