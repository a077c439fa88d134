"""A fleet's parts solved side by side in worker processes.

Two parts solved in threads of one process share its interpreter lock: one part's
Python (building its model, pricing its pieces, the warm start) waits on the other's.
In processes of their own the first two parts of the 100k fleet (11 s each, one core
each) cost $92.5M / $86.7M on two fleets, against $95.8M / $93.4M in threads, the same
hour.

A worker is a Python process running `serve`, with a pipe each way, not multiprocessing's
spawn: that runs the caller's main script again in the child when the script lacks an
`if __name__ == "__main__":` guard, and planners call placer from plain scripts. A job
is a part's candidate table, policy and options, pickled; the answer its placement and
the solver's info, and before it, when the options ask for them, the part's prices as
soon as its LP is solved and again after its rounds of columns
(SolveOptions.on_lp_prices: the caller prices the fleet's bound at them while its parts
are still solved). The workers import placer (2.3 s each)
as soon as the pool is made, which the caller does after its sample's LP, whose time is
short. Ctrl-C: a terminal sends it to every process of the group, and the parent forwards
its own stop as SIGINT too (placer's handler in the worker keeps the part's best plan).
A worker that fails or dies answers None: the caller solves that part itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from placer.candidates import Candidates
    from placer.schema import Policy
    from placer.solve import SolveOptions

# A part's plan as the worker returns it: (units per row, left-out per workload) or None
# when the part has no plan, and the part's solver info.
PartAnswer = tuple["tuple[np.ndarray, np.ndarray] | None", dict[str, Any]]
_HEADER = struct.Struct("<Q")
STOP_POLL_S = 0.1  # how often a waiting parent looks at its stop
CLOSE_WAIT_S = 5.0


def _send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the worker closed its pipe")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the worker closed its pipe")
    return pickle.loads(data)


def peak_mb() -> int:
    """This process's peak resident memory (VmHWM), 0 where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


class PartWorkers:
    """`count` worker processes, each solving one part at a time."""

    def __init__(self, count: int) -> None:
        self._idle: queue.SimpleQueue[subprocess.Popen[bytes]] = queue.SimpleQueue()
        self._all: list[subprocess.Popen[bytes]] = []
        self._peaks: dict[int, int] = {}
        self._live = count
        self._lock = threading.Lock()
        # the worker imports this very placer, wherever it was imported from: first on
        # its path, before the working directory `-c` puts there (PYTHONPATH comes after
        # it, and a worker started from a checkout of another placer imported that one)
        package_root = str(Path(__file__).resolve().parents[1])
        start = f"import sys; sys.path.insert(0, {package_root!r}); " \
            "from placer.workers import serve; serve()"
        for _ in range(count):
            worker = subprocess.Popen([sys.executable, "-c", start],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self._all.append(worker)
            self._idle.put(worker)

    @property
    def peak_mb(self) -> int:
        """The workers' peak resident memory, summed (as reported with their answers)."""
        return sum(self._peaks.values())

    def solve(self, table: Candidates, policy: Policy, options: SolveOptions,
              stop: Callable[[], bool], deadline: float | None = None) -> PartAnswer | None:
        """The part solved by an idle worker (waiting for one) by `deadline` (on
        time.perf_counter's clock; default: options.time_limit from when the worker is
        sent it); None when the job failed there (the worker goes on to the next) or the
        worker died (not used again). options.on_lp_prices is called here, on a thread of
        this pool's, with the prices the worker reports."""
        while True:
            if self._live == 0:
                return None
            try:
                worker = self._idle.get(timeout=STOP_POLL_S)
                break
            except queue.Empty:
                continue
        assert worker.stdin is not None and worker.stdout is not None
        box: dict[str, Any] = {}

        on_lp_prices = options.on_lp_prices

        def read() -> None:
            # no answer in the box: the worker died
            with contextlib.suppress(OSError, EOFError, pickle.UnpicklingError):
                while (message := _receive(worker.stdout))[0] == "prices":  # type: ignore[arg-type]
                    if on_lp_prices is not None:
                        on_lp_prices(message[1])
                box["answer"] = message

        # its time counts from now, not from when the worker is free to read it; given a
        # deadline, to that: the caller stops the part then, and a part that thought it
        # had longer left its master no time (parts of a 50,000 fleet at 60 s, read by
        # their workers up to 0.8 s after their batch began, stopped 0.7-0.8 s before
        # their own deadline; beside a busy loop, four of them before their masters ran:
        # their warm starts' plans, 22-35 % above their LPs, where the others were 9-15 %)
        ends = time.time() + (options.time_limit if deadline is None
                              else deadline - time.perf_counter())
        try:
            # the callback stays here, the worker is told to send the prices
            _send(worker.stdin, (table, policy, replace(options, on_lp_prices=None), ends,
                                 on_lp_prices is not None))
        except OSError:
            return self._dead()
        reader = threading.Thread(target=read, name="part-answer", daemon=True)
        reader.start()
        while reader.is_alive():
            reader.join(STOP_POLL_S)
            if reader.is_alive() and stop() and os.name == "posix":
                with contextlib.suppress(OSError):
                    worker.send_signal(signal.SIGINT)
        answer = box.get("answer")
        if answer is None:
            return self._dead()
        self._idle.put(worker)
        status, placement, info, peak = answer
        self._peaks[worker.pid] = max(self._peaks.get(worker.pid, 0), peak)
        return (placement, info) if status == "done" else None

    def _dead(self) -> None:
        """A worker died: it is not put back."""
        with self._lock:
            self._live -= 1

    def close(self) -> None:
        """Ask every worker to end (its pipe closed), then make sure it has."""
        for worker in self._all:
            with contextlib.suppress(OSError):
                assert worker.stdin is not None
                worker.stdin.close()
        for worker in self._all:
            try:
                worker.wait(CLOSE_WAIT_S)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()

    def __enter__(self) -> PartWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve() -> None:
    """A worker's loop: jobs from stdin, answers to stdout, until stdin closes."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed (CP-SAT's log) goes to stderr, not into the answers
    # between jobs Ctrl-C is the parent's to handle; during one, placer's own handler
    # stops the search and keeps its plan
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from placer.plan import part_answer
    from placer.solve import solve_built_candidates

    jobs = sys.stdin.buffer
    while True:
        try:
            table, policy, options, deadline, send_prices = _receive(jobs)
        except EOFError:
            # the pool is closed: nothing left to write, and the interpreter's teardown
            # (OR-Tools, polars) took 0.7 s the caller would wait for
            answers.close()
            os._exit(0)
        try:
            options = replace(options, time_limit=max(0.1, deadline - time.time()),
                              on_lp_prices=(lambda prices: _send(answers, ("prices", prices)))
                              if send_prices else None)
            plan = solve_built_candidates(table, policy, options)
            answer: tuple[Any, ...] = ("done", *part_answer(plan, table), peak_mb())
        except Exception as error:  # the parent solves the part itself
            answer = ("failed", None, {"error": f"{type(error).__name__}: {error}"},
                      peak_mb())
        _send(answers, answer)
