"""A real one-node Ray cluster for the tests: ``ray start --head`` as a child process group.

Started with 2 CPUs and a 500 MB object store (the machine has 2 cores, 24 GiB); bound to the
loopback address; its own temp dir (short: Ray's socket paths must stay under 108 characters).
``stop`` ends every process of it by process group and pid (never ``ray stop``, which ends
every Ray process of the user on the machine) and returns the ones that outlived it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

# A one-machine cluster on the loopback address: Ray would otherwise bind to the machine's
# network address. Drivers (the stemgen commands) need the same setting to join it.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
# On SIGTERM `ray start --block` would first drain the node for 30 s (for services that route
# traffic); nothing here needs that.
CLUSTER_ENV = dict(LOOPBACK_ENV, RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
START_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayCluster:
    def __init__(self) -> None:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="sgray", dir="/tmp"))
        self.address = f"127.0.0.1:{_free_port()}"
        self.log = self.temp_dir.with_suffix(".log")
        ray = Path(sys.executable).with_name("ray")
        cmd = [str(ray), "start", "--head", "--block", "--num-cpus", "2", "--object-store-memory", str(500 * 10**6),
               "--temp-dir", str(self.temp_dir), "--port", self.address.rsplit(":", 1)[1],
               "--node-ip-address", "127.0.0.1", "--include-dashboard=false", "--disable-usage-stats"]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, env=dict(os.environ, **CLUSTER_ENV), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        # `ray start` writes the address file once the head node (GCS, raylet) is up.
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (self.temp_dir / "ray_current_cluster").is_file():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log.read_text()[-3000:]
                self.stop()
                raise RuntimeError(f"ray start failed or timed out: {log}")
            time.sleep(0.2)

    def processes(self) -> list[psutil.Process]:
        """Every process of the cluster: the `ray start` command and its process group."""
        found = {}
        try:
            root = psutil.Process(self.proc.pid)
            found = {p.pid: p for p in [root, *root.children(recursive=True)]}
        except psutil.NoSuchProcess:
            pass
        for p in psutil.process_iter():
            try:
                if os.getpgid(p.pid) == self.proc.pid:
                    found.setdefault(p.pid, p)
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
        return list(found.values())

    def task_workers(self) -> list[psutil.Process]:
        """Ray worker processes running a stemgen task now (Ray titles them ``ray::<function>``)."""
        busy = []
        for p in self.processes():
            try:
                if " ".join(p.cmdline()).startswith("ray::run_task"):
                    busy.append(p)
            except psutil.NoSuchProcess:
                continue
        return busy

    def stop(self, timeout: float = 20.0) -> list[psutil.Process]:
        """SIGTERM to `ray start`, which ends the processes it started; then SIGKILL to the process
        group and to whatever is left. Returns the processes still alive after that."""
        procs = self.processes()
        self.proc.terminate()
        alive = _survivors(procs, timeout)
        if alive:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for p in alive:  # children that left the group (none expected)
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
            alive = _survivors(alive, 5.0)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.log.unlink(missing_ok=True)
        return alive


def _survivors(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)
