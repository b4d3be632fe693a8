"""A real ``transformers serve`` on 127.0.0.1 for tests and benchmarks of the OpenAI-compatible backend.

Usage::

    with TransformersServer(model_dir) as server:
        settings = BackendSettings(backend="openai", base_url=server.base_url, model=server.model)

The server is pinned to the model (``transformers serve MODEL``), so requests must name that model; it
runs with ``OMP_NUM_THREADS=1`` by default so it does not fight the test process for the CPU. Its
output goes to a log file whose tail is shown when it fails to start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TransformersServer:
    def __init__(
        self,
        model: str | Path,
        port: int | None = None,
        *,
        threads: int = 1,
        continuous_batching: bool = False,
        extra_args: list[str] | None = None,
        log_path: str | Path | None = None,
        ready_timeout_s: float = 120.0,
    ) -> None:
        self.model = str(model)
        self.port = port or free_port()
        self.threads = threads
        self.continuous_batching = continuous_batching
        self.extra_args = list(extra_args or [])
        self.log_path = Path(log_path) if log_path else Path(f"/tmp/synthtune-serve-{self.port}.log")
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", self.model]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu", "--log-level", "warning"]
        if self.continuous_batching:
            cmd.append("--continuous-batching")
        return cmd + self.extra_args

    def start(self, wait: bool = True) -> TransformersServer:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": str(self.threads),
            "MKL_NUM_THREADS": str(self.threads),
            "OMP_WAIT_POLICY": "PASSIVE",  # no busy-waiting threads on a shared CPU
            "TOKENIZERS_PARALLELISM": "false",
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child process keeps it
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Poll /health until it answers 200 (the pinned model is loaded before the server listens)."""
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(
            f"transformers serve not ready after {self.ready_timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, hard: bool = False) -> None:
        """Stop the server: SIGKILL when ``hard`` (a crash, in-flight requests are cut), else SIGTERM."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def peak_rss_mb(self) -> float | None:
        """The server process's peak resident memory so far (Linux), in MiB."""
        if self.process is None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> TransformersServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
