"""Ctrl-C: the main process decides, and nothing is left half done.

A terminal sends Ctrl-C (SIGINT) to every process of the command, worker processes included. The
workers ignore it (``ignore_in_worker``, from their pool's initializer, and ``starting_workers``
for the second or so before that runs): the main process stops handing out work, lets the jobs
in hand finish, and the command says what was finished. Files are written under a temporary name
and renamed (``files.atomic_open``) and the store writes whole files per transaction, so a stop
at any moment leaves nothing half written, and running the command again completes the work.

Where a step must finish once begun, ``held`` keeps a Ctrl-C waiting until it has: a store
transaction and telling the caller what it stored go together, so what the command says it
finished is what the store holds. Sending email is such a step too, and a longer one: a message
handed to the server but not yet recorded as sent must be checked by hand before it is sent
again. There ``deferred`` holds the first Ctrl-C until the message in hand is recorded; a second
one stops at once.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def ignore_in_worker() -> None:
    """For a pool's initializer: the main process decides what a Ctrl-C stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def starting_workers() -> Iterator[None]:
    """Worker processes started in this block ignore Ctrl-C from their first instruction.

    A spawned interpreter spends about a second importing before its initializer runs; it keeps
    an ignored SIGINT ignored, so none of them prints a KeyboardInterrupt traceback meanwhile.
    A Ctrl-C during the block itself (the few milliseconds processes take to start) is lost."""
    if not _main_thread():  # only the main thread may change signal handlers
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def held() -> Iterator[None]:
    """A step that must finish once begun: a Ctrl-C during the block takes effect when it ends
    (a store transaction, and telling the caller what it stored, go together or not at all)."""
    if not _main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


class Deferred:
    """Holds the first Ctrl-C until ``checkpoint()``; a second one raises KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def checkpoint(self) -> None:
        """Stop here (KeyboardInterrupt) if a Ctrl-C came since the block began."""
        if self.requested:
            raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[Deferred]:
    """A block in which Ctrl-C stops only at the block's checkpoints (or at a second Ctrl-C)."""
    held = Deferred()
    if not _main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, held._handle)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)
