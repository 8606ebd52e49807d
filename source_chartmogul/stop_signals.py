"""Ctrl-C and SIGTERM, blocked from the start of the command: the package blocks them on import when it is the
command (the `source-chartmogul` script, or main.py here), before the CDK is imported (about 0.6 s), so that one that
comes while the command starts waits for run.py's handling, as one that comes later does (exit 130 after one LOG line
on Ctrl-C, no KeyboardInterrupt traceback). A program that imports the package keeps Python's defaults."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
COMMAND = "source-chartmogul"  # pyproject.toml's [project.scripts]
MAIN_PY = Path(__file__).resolve().parent.parent / "main.py"


def started_as_the_command() -> bool:
    program = Path((getattr(sys, "argv", None) or [""])[0])
    return program.name == COMMAND or (program.name == MAIN_PY.name and program.resolve() == MAIN_PY)


def block() -> bool:
    """Blocks the stop signals in the main thread and so in every thread it starts after; False in another thread (a
    test calling run() from one), which keeps Python's defaults."""
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    return True
