"""System metrics of a run (``start_run(log_system_metrics=True)``), as MLflow logs them.

A daemon thread samples CPU, memory, disk and network every ``sampling_interval`` seconds
(default 10, ``$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``) and, after
``samples_before_logging`` samples (default 1), logs their mean (rounded to 0.1; network
counters are the total since the run started) at the next step under MLflow's names:
``system/cpu_utilization_percentage``, ``system/system_memory_usage_megabytes``,
``system/system_memory_usage_percentage``, ``system/disk_usage_percentage``,
``system/disk_usage_megabytes``, ``system/disk_available_megabytes``,
``system/network_receive_megabytes``, ``system/network_transmit_megabytes`` (with
``system/<node_id>/...`` when a node id is set). It stops at ``end_run``; a resumed run
continues from its last system step + 1. psutil is used when installed, else ``/proc``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .._errors import InvalidValueError

log = logging.getLogger(__name__)
ENABLE_ENV = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"
INTERVAL_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"
SAMPLES_ENV = "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING"
NODE_ENV = "MLFLOW_SYSTEM_METRICS_NODE_ID"
PREFIX = "system/"


# -- switches (environment variables, as MLflow: subprocesses inherit them) ------------------

def enable_system_metrics_logging() -> None:
    """Log system metrics for every run started from now on (``log_system_metrics=None``)."""
    os.environ[ENABLE_ENV] = "true"


def disable_system_metrics_logging() -> None:
    """Stop logging system metrics for runs started from now on, unless they ask for it."""
    os.environ[ENABLE_ENV] = "false"


def _set(name: str, value: Any) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


def set_system_metrics_sampling_interval(interval: float | None) -> None:
    """Seconds between two samples (None: the default, 10)."""
    if interval is not None and (isinstance(interval, bool) or not isinstance(
            interval, (int, float)) or interval <= 0):
        raise InvalidValueError(f"interval must be a positive number of seconds, got "
                                f"{interval!r}")
    _set(INTERVAL_ENV, interval)


def set_system_metrics_samples_before_logging(samples: int | None) -> None:
    """How many samples are averaged into one logged step (None: the default, 1)."""
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                or samples < 1):
        raise InvalidValueError(f"samples must be a positive integer, got {samples!r}")
    _set(SAMPLES_ENV, samples)


def set_system_metrics_node_id(node_id: str | None) -> None:
    """Name this machine in the metric keys (``system/<node_id>/...``): several nodes of
    one run then log apart (None: no node part)."""
    _set(NODE_ENV, node_id)


def enabled(log_system_metrics: bool | None) -> bool:
    if log_system_metrics is not None:
        return bool(log_system_metrics)
    return os.environ.get(ENABLE_ENV, "").strip().lower() in ("true", "1")


# -- sampling --------------------------------------------------------------------------------

class _Sampler:
    """One reading of the machine; network counters relative to the first reading."""

    def __init__(self) -> None:
        try:
            import psutil
        except ImportError:
            psutil = None
        self._psutil = psutil
        self._cpu_prev = None if psutil else _proc_cpu_times()
        if psutil:
            psutil.cpu_percent()  # starts the interval the next call measures
        self._net0 = self._net()

    def _net(self) -> tuple[float, float]:
        if self._psutil:
            c = self._psutil.net_io_counters()
            return c.bytes_recv / 1e6, c.bytes_sent / 1e6
        return _proc_net()

    def sample(self) -> tuple[dict[str, float], dict[str, float]]:
        """(values to average, values to log as they are)."""
        p = self._psutil
        if p:
            cpu = p.cpu_percent()
            mem = p.virtual_memory()
            used, percent = mem.used / 1e6, mem.used / mem.total * 100
        else:
            now = _proc_cpu_times()
            busy, total = now[0] - self._cpu_prev[0], now[1] - self._cpu_prev[1]
            self._cpu_prev = now
            cpu = 100.0 * busy / total if total > 0 else 0.0
            total_kb, avail_kb = _proc_meminfo()
            used, percent = (total_kb - avail_kb) / 1e3, (total_kb - avail_kb) / total_kb * 100
        st = os.statvfs(os.sep)
        disk_free = st.f_bavail * st.f_frsize  # the numbers psutil.disk_usage gives
        disk_used = (st.f_blocks - st.f_bfree) * st.f_frsize
        recv, sent = self._net()
        averaged = {
            "cpu_utilization_percentage": cpu,
            "system_memory_usage_megabytes": used,
            "system_memory_usage_percentage": percent,
            "disk_usage_percentage": 100.0 * disk_used / (disk_used + disk_free)
            if disk_used + disk_free else 0.0,
            "disk_usage_megabytes": disk_used / 1e6,
            "disk_available_megabytes": disk_free / 1e6,
        }
        latest = {"network_receive_megabytes": recv - self._net0[0],
                  "network_transmit_megabytes": sent - self._net0[1]}
        return averaged, latest


def _proc_cpu_times() -> tuple[float, float]:
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def _proc_meminfo() -> tuple[float, float]:
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            info[name] = float(rest.split()[0])
    return info["MemTotal"], info.get("MemAvailable", info.get("MemFree", 0.0))


def _proc_net() -> tuple[float, float]:
    recv = sent = 0.0
    try:
        with open("/proc/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, rest = line.partition(":")
                if name.strip() == "lo":
                    continue
                cols = rest.split()
                recv, sent = recv + float(cols[0]), sent + float(cols[8])
    except OSError:
        pass
    return recv / 1e6, sent / 1e6


# -- the monitor -----------------------------------------------------------------------------

class SystemMetricsMonitor:
    """The background thread of one run; :meth:`stop` ends it (unlogged samples dropped,
    as in MLflow)."""

    def __init__(self, log_metrics: Callable[[dict[str, float], int], None],
                 first_step: int = 0) -> None:
        self.interval = float(os.environ.get(INTERVAL_ENV) or 10)
        self.samples = int(os.environ.get(SAMPLES_ENV) or 1)
        node = os.environ.get(NODE_ENV)
        self.prefix = PREFIX + (f"{node}/" if node else "")
        self.step = first_step
        self._log = log_metrics
        self._stop = threading.Event()
        self._sampler = _Sampler()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="trackbook-system-metrics")

    def start(self) -> SystemMetricsMonitor:
        self._thread.start()
        return self

    def _loop(self) -> None:
        warned = False
        while not self._stop.is_set():
            sums: dict[str, float] = {}
            latest: dict[str, float] = {}
            for _ in range(self.samples):
                try:
                    averaged, latest = self._sampler.sample()
                except Exception as exc:  # never take the training process down
                    log.warning("system metrics: sampling failed (%s); stopping", exc)
                    return
                for k, val in averaged.items():
                    sums[k] = sums.get(k, 0.0) + val
                if self._stop.wait(self.interval):
                    return
            metrics = {self.prefix + k: round(val / self.samples, 1) for k, val in sums.items()}
            metrics.update({self.prefix + k: val for k, val in latest.items()})
            try:
                self._log(metrics, self.step)
            except Exception as exc:
                if not warned:
                    log.warning("system metrics: logging failed (%s)", exc)
                    warned = True
                return
            self.step += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def next_step(store: Any, run_id: str) -> int:
    """The step a resumed run's system metrics continue from: its last one + 1."""
    with store.connect() as con:
        row = con.execute("SELECT max(step) FROM latest_metrics WHERE run_id = ? AND "
                          "starts_with(key, ?)", [run_id, PREFIX]).fetchone()
    return 0 if row is None or row[0] is None else int(row[0]) + 1


def start_for(run: Any, resumed: bool, log_system_metrics: bool | None
              ) -> SystemMetricsMonitor | None:
    """The monitor of a fluent run, or None when system metrics are off."""
    if not enabled(log_system_metrics):
        return None
    from .client import Client

    client = Client()
    run_id = run.info.run_id
    first = next_step(client.store, run_id) if resumed else 0

    def log_metrics(metrics: dict[str, float], step: int) -> None:
        from .entities import Metric

        ts = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, float(val), ts, step)
                                          for k, val in metrics.items()])

    return SystemMetricsMonitor(log_metrics, first).start()


__all__ = ["SystemMetricsMonitor", "disable_system_metrics_logging",
           "enable_system_metrics_logging", "set_system_metrics_node_id",
           "set_system_metrics_samples_before_logging", "set_system_metrics_sampling_interval"]
