"""An S3 protocol server for the suite: moto's standalone server as a child process on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "bdt-test-access"
SECRET_KEY = "bdt-test-secret"
REGION = "us-east-1"


@dataclass
class S3Server:
    """A running S3-compatible server (stop it with :meth:`stop`)."""

    process: subprocess.Popen[bytes]
    endpoint: str

    def env(self, bucket: str) -> dict[str, str]:
        """The platform's object-storage variables for ``bucket`` on this server."""
        return {
            "BDT_S3_BUCKET": bucket,
            "BDT_S3_ENDPOINT_URL": self.endpoint,
            "BDT_S3_REGION": REGION,
            "BDT_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "BDT_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_server_start(timeout: float = 60.0) -> S3Server:
    """Start ``moto_server`` and wait until it answers HTTP."""
    command = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    port = _free_port()
    (ROOT / ".bdt").mkdir(exist_ok=True)
    log = open(ROOT / ".bdt" / f"test-s3-{port}.log", "wb")  # noqa: SIM115 - the child writes it until stopped
    process = subprocess.Popen([command, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    server = S3Server(process, endpoint)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("the S3 server did not answer within the timeout")
