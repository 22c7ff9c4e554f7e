"""Run several long-lived processes as one: prefixed output, crash reporting, clean shutdown.

Each child gets its own process group, so stopping it also stops whatever it spawned (Dagster's
code server starts run workers as children). A child that exits on its own is a crash: it is
reported with the tail of its output and everything else is stopped, so nothing is left half-up.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

STOP_GRACE_SECONDS = 15.0


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    cwd: Path | None = None


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen[str]
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=40))


class ChildCrashed(RuntimeError):
    def __init__(self, name: str, returncode: int, tail: list[str]) -> None:
        super().__init__(f"{name} exited unexpectedly with code {returncode}")
        self.name = name
        self.returncode = returncode
        self.tail = tail


class Supervisor:
    def __init__(self, log_dir: Path, echo: IO[str] | None = sys.stdout) -> None:
        self.log_dir = log_dir
        self.echo = echo
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        #: Set from a signal handler: `wait()` returns at its next poll. Raising from the handler
        #: instead can land in a garbage-collector callback, where the exception is swallowed.
        self.interrupted = threading.Event()

    def start(self, spec: ChildSpec) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            spec.argv,
            env=spec.env,
            cwd=spec.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        child = Child(spec, process)
        self.children.append(child)
        threading.Thread(target=self._pump, args=(child,), daemon=True, name=f"pump-{spec.name}").start()
        return child

    def _pump(self, child: Child) -> None:
        assert child.process.stdout is not None
        width = max((len(c.spec.name) for c in self.children), default=len(child.spec.name))
        with (self.log_dir / f"{child.spec.name}.log").open("a", encoding="utf-8") as log_file:
            for line in child.process.stdout:
                child.tail.append(line.rstrip("\n"))
                log_file.write(line)
                log_file.flush()
                if self.echo is not None:
                    with self._lock:
                        self.echo.write(f"{child.spec.name:<{width}} | {line}")
                        self.echo.flush()

    def check(self) -> None:
        """Raise `ChildCrashed` for the first child that exited while we were not stopping."""
        for child in self.children:
            code = child.process.poll()
            if code is not None and not self._stopping.is_set():
                time.sleep(0.2)  # let the pump thread drain the last lines
                raise ChildCrashed(child.spec.name, code, list(child.tail))

    def wait(self, until: Callable[[], bool] | None = None, poll_seconds: float = 0.5) -> None:
        """Block until a child crashes (raises), `until()` is true, or `interrupted` is set."""
        while not (self._stopping.is_set() or self.interrupted.is_set()):
            self.check()
            if until is not None and until():
                return
            self.interrupted.wait(poll_seconds)

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every process group (reverse start order), then SIGKILL what is left."""
        self._stopping.set()
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(max(0.0, deadline - time.monotonic()))
        for child in self.children:
            # The group may outlive its leader (run workers of the code server): kill it whole.
            _signal_group(child.process, signal.SIGKILL)
            if child.process.poll() is None:
                child.process.wait(5)


def _signal_group(process: subprocess.Popen[str], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
