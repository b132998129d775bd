"""Live measurement in a background thread, with progress, a power trace and cancel.

:class:`LiveJob` runs a :class:`~efflab.sweep.SweepSpec` (one point, or a whole batch-size or
precision row) through :func:`efflab.sweep.iter_sweep` in a thread, so the notebook stays
responsive. Each point is committed to the store as it is measured; its events reach the
:class:`~widgets.state.LabState` through ``dispatch``, which runs them on the thread that owns the
widgets (the kernel's event loop). ``cancel()`` sets the ``should_stop`` flag the measurement
polls; nothing half-measured is stored.

The power trace is honest about what it is: with a hardware counter (``rapl``, ``nvml``) a second
reader samples short windows (measured); the ``fake`` sensor is sampled the same way and says so;
with ``codecarbon`` (no live reading) each finished point adds its average power over its timed
window, energy / time, labelled estimated.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from efflab import format as fmt
from efflab.errors import EfflabError

if TYPE_CHECKING:
    from efflab.sensors.base import Sensor
    from efflab.sweep import PointResult, SweepSpec
    from widgets.state import LabState

Dispatch = Callable[[Callable[[], None]], None]

# Sensors cheap and safe to read from a second reader every fraction of a second.
SAMPLED_SENSORS = ("rapl", "nvml", "fake")


def direct_dispatch(fn: Callable[[], None]) -> None:
    """Run ``fn`` right away, on the calling thread."""
    fn()


def kernel_dispatch() -> Dispatch:
    """Run callbacks on the event loop of the calling thread (in a notebook: the kernel's, which
    owns the widgets); outside a running loop, a :class:`QueueDispatch` to pump by hand."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return QueueDispatch()

    def dispatch(fn: Callable[[], None]) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    return dispatch


class QueueDispatch:
    """Collects callbacks from the worker; :meth:`pump` runs them on the caller's thread."""

    def __init__(self) -> None:
        self._q: queue.Queue[Callable[[], None]] = queue.Queue()

    def __call__(self, fn: Callable[[], None]) -> None:
        self._q.put(fn)

    def pump(self, timeout_s: float = 0.0) -> int:
        """Run every queued callback (waiting up to ``timeout_s`` for the first); return how many."""
        n = 0
        try:
            fn = self._q.get(timeout=timeout_s) if timeout_s > 0 else self._q.get_nowait()
        except queue.Empty:
            return 0
        while True:
            fn()
            n += 1
            try:
                fn = self._q.get_nowait()
            except queue.Empty:
                return n


def _label(cfg: object) -> str:
    base = fmt.config_label(cfg, short=True)
    n = getattr(cfg, "max_new_tokens", None) if getattr(cfg, "workload", "classify") == "generate" else None
    return base if n is None else f"{base} · {n} new token{'s' if n != 1 else ''}"


class _PowerSampler(threading.Thread):
    """Reads a second sensor over short windows and reports (t_s, watts, joules)."""

    def __init__(
        self, sensor: Sensor, t0: float, period_s: float, report: Callable[[float, float, float], None]
    ):
        super().__init__(daemon=True, name="efflab-power-sampler")
        self.sensor, self.t0, self.period_s, self.report = sensor, t0, period_s, report
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.sensor.begin_window(restart=True)
                self.stop.wait(self.period_s)
                r = self.sensor.end_window()
                if r.duration_s > 0:
                    self.report(time.perf_counter() - self.t0, r.energy_j / r.duration_s, r.energy_j)
        except EfflabError:
            return  # the trace stops; the measurement itself goes on and says what it used
        finally:
            self.sensor.close()


def _second_reader(sensor: Sensor, device: str) -> Sensor | None:
    from efflab.sensors import FakeSensor, make_sensor

    if sensor.name not in SAMPLED_SENSORS:
        return None
    if isinstance(sensor, FakeSensor):
        return FakeSensor(sensor.power_w, sensor.uncertainty_rel)
    try:
        return make_sensor(sensor.name, device=device)
    except EfflabError:
        return None


class LiveJob:
    """One live measurement job: ``spec``'s points, measured in a thread into the store at ``store_path``.

    Args:
        spec: what to measure (one point, or a row).
        store_path: the results store; created if missing. Points already stored are skipped.
        state: the lab state that receives progress, samples, points and the end (via ``dispatch``).
        dispatch: runs state updates on the widgets' thread (default: :func:`kernel_dispatch`).
        sensor: a Sensor to use (the caller keeps it) instead of ``spec.sensor``.
        sample_s: the power trace's sampling period in seconds.
    """

    def __init__(
        self,
        spec: SweepSpec,
        store_path: str,
        state: LabState,
        *,
        dispatch: Dispatch | None = None,
        sensor: Sensor | None = None,
        sample_s: float = 0.25,
        description: str = "",
    ) -> None:
        self.spec = spec
        self.store_path = store_path
        self.state = state
        self.dispatch = dispatch or kernel_dispatch()
        self._sensor = sensor
        self.sample_s = sample_s
        self.description = description or (
            _label(spec.configs()[0]) if len(spec) == 1 else f"sweep of {len(spec)} points"
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="efflab-live-measure")
        self.status: str | None = None  # done | cancelled | failed, once finished
        self.results: list[PointResult] = []

    # ----- control -----
    def start(self) -> LiveJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the measurement to stop at its next check (within one batch)."""
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the thread; True when it has finished."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def wait(self, timeout_s: float = 300.0) -> str | None:
        """Wait for the end, pumping a :class:`QueueDispatch` meanwhile (scripts and tests)."""
        deadline = time.monotonic() + timeout_s
        pump = self.dispatch.pump if isinstance(self.dispatch, QueueDispatch) else None
        while self._thread.is_alive() and time.monotonic() < deadline:
            if pump is not None:
                pump(0.05)
            else:
                self._thread.join(0.05)
        if pump is not None:
            pump()
        return self.status

    # ----- the worker -----
    def _post(self, fn: Callable[[], None]) -> None:
        self.dispatch(fn)

    def _run(self) -> None:
        from efflab.sensors import make_sensor
        from efflab.store import open_store
        from efflab.sweep import iter_sweep

        spec = self.spec
        configs = spec.configs()
        total = len(configs)
        t0 = time.perf_counter()
        sensor: Sensor | None = None
        own_sensor = self._sensor is None
        sampler: _PowerSampler | None = None
        status, message = "done", ""
        try:
            sensor = self._sensor or make_sensor(
                spec.sensor, device=spec.devices[0], country=spec.method.country
            )
            reader = _second_reader(sensor, spec.devices[0])
            measured = bool(sensor.measured)
            if reader is not None:
                note = f"{sensor.name}, sampled every {self.sample_s:g} s"
            else:
                note = f"{sensor.name}: no live reading; one point per measurement = its energy / its time"
            desc, src = self.description, sensor.name
            self._post(lambda: self.state.live_started(desc, total, source=src, measured=measured, note=note))
            if reader is not None:
                sampler = _PowerSampler(
                    reader,
                    t0,
                    self.sample_s,
                    lambda t, w, e: self._post(partial(self.state.live_sample, t, w, e)),
                )
                sampler.start()
            done = 0
            last_t, last_stage = [0.0], [""]

            def on_progress(stage: str, frac: float) -> None:
                now = time.perf_counter()
                # Tiny models report thousands of batches a second: a few updates a second is plenty.
                if stage == last_stage[0] and now - last_t[0] < 0.1 and stage != "done":
                    return
                last_t[0], last_stage[0] = now, stage
                i = min(done + 1, total)
                lab = _label(configs[i - 1])
                self._post(partial(self.state.live_progress, stage, frac, i, total, lab))

            with open_store(self.store_path) as st:
                # One writer at a time: a CLI sweep on this store refuses the lab's Measure and the
                # other way round, each naming the other (StoreBusyError, one line in the banner).
                st.claim_sweep(writer="the lab's live Measure")
                for r in iter_sweep(
                    spec,
                    st,
                    retry_failed=True,
                    sensor=sensor,
                    should_stop=self._stop.is_set,
                    on_measure_progress=on_progress,
                    paired=False,  # one live point: nothing to pair it with in this run
                ):
                    done += 1
                    self.results.append(r)
                    lab = _label(r.config)
                    if r.status == "skipped":
                        continue
                    if r.status == "ok" and r.measurement is not None and reader is None:
                        m = r.measurement
                        if m.window_s > 0:
                            t = time.perf_counter() - t0
                            self._post(
                                partial(self.state.live_sample, t, m.energy_j / m.window_s, m.energy_j)
                            )
                    self._post(partial(self.state.live_point, lab, r.status, r.error))
            if self._stop.is_set():
                status = "cancelled"
        except EfflabError as e:
            status, message = ("cancelled", "") if self._stop.is_set() else ("failed", str(e))
        except Exception as e:  # a worker thread must report, never die silently
            status, message = (
                "failed",
                f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}",
            )
        finally:
            if sampler is not None:
                sampler.stop.set()
                sampler.join(2.0)
            if own_sensor and sensor is not None:
                sensor.close()
            self.status = status
            self._post(lambda: self.state.live_finished(status, message))


def start_live(
    state: LabState, row: str | None = None, *, dispatch: Dispatch | None = None, **kwargs: object
) -> LiveJob:
    """Measure the selection (``row=None``) or sweep its ``batch`` or ``precision`` row, in a thread.

    Raises:
        ConfigError: a bad row kind. StoreError: the store cannot be written (its one line).
    """
    from efflab.errors import StoreError

    if state.store_error:
        raise StoreError(state.store_error)
    spec = state.spec_for(row)
    desc = None
    if row is not None:
        sel = state.selection
        desc = (
            f"{sel.model} · {sel.precision}: batch sizes {', '.join(map(str, spec.batch_sizes))}"
            if row == "batch"
            else f"{sel.model} · batch {sel.batch_size}: precisions {', '.join(spec.precisions)}"
        )
    return LiveJob(
        spec,
        str(state.store_path),
        state,
        dispatch=dispatch,
        description=desc or "",
        **kwargs,  # type: ignore[arg-type]
    ).start()
