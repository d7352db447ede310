"""Several worker processes on one port, under a supervisor (``accelerator serve --workers N``).

The supervisor makes what the workers share before it forks them: the shared generation counters
(``accelerator.cache.shared``) and a run directory for the workers' private Unix sockets. It reserves
the port with a bound, never-listening SO_REUSEPORT socket (so port 0 becomes one port for all), forks
each worker (its own event loop, cache and store connections), waits until every one listens, then
prints the one "listening" line. A worker that dies is forked again (with a growing pause if it keeps
dying at once); SIGTERM or SIGINT is passed to every worker, which drains its requests as a single
server does, and a worker still running after the grace period is killed. A worker also gets SIGTERM
from the kernel if the supervisor itself dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import Any

from accelerator.cache.shared import SharedGenerations
from accelerator.config import Config, ConfigError
from accelerator.fanout import WorkerContext
from accelerator.startup import StartupError

__all__ = ["worker_count", "supervise"]

log = logging.getLogger("accelerator.workers")

_START_TIMEOUT = 60.0
_PR_SET_PDEATHSIG = 1
_QUICK_DEATH = 5.0  # a worker that dies sooner than this after its start is restarted after a growing pause


def worker_count(value: int | str, backend: str = "sqlite") -> int:
    """``[server] workers``: a positive count, or "auto" for the CPUs this process may run on."""
    if value == "auto":
        count = len(os.sched_getaffinity(0))
    elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f'[server] workers: expected a positive integer or "auto", got {value!r}')
    else:
        count = value
    if count > 1 and backend == "memory":  # each worker would hold a store of its own
        raise ConfigError("[server] workers: the memory backend lives in one process; use 1 worker "
                          "(or sqlite, postgres, redis)")
    return count


def _reserve(host: str, port: int) -> socket.socket:
    """A bound, non-listening SO_REUSEPORT socket: fixes the port for every worker, takes no connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _die_with(parent: int) -> None:
    """Have the kernel send this process SIGTERM when ``parent`` dies (a supervisor killed with SIGKILL must
    not leave its workers serving on the port)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the workers outlive a killed supervisor
        log.warning("workers will not stop with a supervisor that is killed (no prctl)")
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(config: Config, index: int, count: int, shared: SharedGenerations, run_dir: str,
                 ready: Connection, parent: int) -> None:
    from accelerator.app import run

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _die_with(parent)

    def tell() -> None:
        ready.send(index)
        ready.close()

    run(config, WorkerContext(index, count, shared, run_dir, tell))


class _Supervisor:
    def __init__(self, config: Config, count: int) -> None:
        self.config = config
        self.count = count
        self.shared = SharedGenerations()
        self.run_dir = tempfile.mkdtemp(prefix="accelerator-workers-")
        self.ctx: Any = multiprocessing.get_context("fork")
        self.procs: dict[int, Any] = {}
        self.started: dict[int, float] = {}
        self.failures: dict[int, int] = {}
        self.stopping = False

    def spawn(self, index: int) -> Connection:
        receive, send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=_worker_main, name=f"accelerator-worker-{index}",
                                args=(self.config, index, self.count, self.shared, self.run_dir, send, os.getpid()))
        proc.start()
        send.close()
        self.procs[index] = proc
        self.started[index] = time.monotonic()
        return receive

    def wait_ready(self, pipes: dict[int, Connection]) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        waiting = dict(pipes)
        while waiting and not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for ready in wait(list(waiting.values()), min(left, 0.5)):
                index = next(i for i, c in waiting.items() if c is ready)
                try:
                    waiting[index].recv()
                except EOFError:  # it died before it listened
                    return False
                del waiting[index]
        return not waiting

    def stop(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def restart_dead(self) -> None:
        for index, proc in list(self.procs.items()):
            if proc.is_alive() or self.stopping:
                continue
            proc.join()
            quick = time.monotonic() - self.started[index] < _QUICK_DEATH
            self.failures[index] = self.failures.get(index, 0) + 1 if quick else 0
            pause = min(5.0, 0.1 * 2 ** self.failures[index]) if quick else 0.0
            log.warning("worker %d exited with code %s; restarting it%s", index, proc.exitcode,
                        f" in {pause:.1f}s" if pause else "")
            time.sleep(pause)
            if not self.stopping:
                self.spawn(index)  # its readiness is not awaited: the others serve meanwhile

    def drain(self) -> None:
        for proc in self.procs.values():
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.server.shutdown_grace + 5.0
        for proc in self.procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.warning("worker %s did not stop in time; killing it", proc.name)
                proc.kill()
                proc.join()

    def run(self) -> int:
        s = self.config.server
        reservation = _reserve(s.host, s.port)
        port = reservation.getsockname()[1]
        self.config = replace(self.config, server=replace(s, port=port))
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.stop)
        try:
            pipes = {i: self.spawn(i) for i in range(self.count)}
            if not self.wait_ready(pipes):
                if not self.stopping:
                    log.error("not every worker started; stopping")
                self.drain()
                return 0 if self.stopping else 1
            print(f"accelerator listening on http://{s.host}:{port} ({self.count} workers)", flush=True)
            while not self.stopping:
                wait([p.sentinel for p in self.procs.values()], 1.0)
                self.restart_dead()
            self.drain()
            return 0
        finally:
            reservation.close()
            shutil.rmtree(self.run_dir, ignore_errors=True)


def supervise(config: Config, count: int) -> int:
    """Run ``count`` workers until SIGTERM/SIGINT; returns the process exit code."""
    if config.backend.kind == "sqlite":
        os.makedirs(config.backend.data_dir, exist_ok=True)
    return _Supervisor(config, count).run()
