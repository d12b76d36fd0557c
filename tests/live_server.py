"""A live Django server on the session's test database, in a thread of the test process.

Used by the browser tests (``tests/e2e``) and the Python client's tests (``tests/client``), which talk to it over
real HTTP. How it works with django-tenants and pytest-django:

* pytest-django's ``live_server`` would force ``transactional_db``, whose flush truncates the session's committed
  public tables (the tenants), so it is not used. A Django ``LiveServerThread`` serves the test database instead,
  and the tests create their data committed (``django_db_blocker.unblock()``, outside any test transaction) with
  unique names, in tenants of their own, so other tests' counts are undisturbed.
* pytest-django blocks database access by patching ``BaseDatabaseWrapper.ensure_connection`` on the class, which
  would also block the server's request threads. Each request thread therefore gets the real method on its own
  (thread-local) connection objects: the server works whatever the test thread's blocker state is.
* Tenants are resolved by the Host header: ``url(host, path)`` builds an address on any host name, served on the
  server's port (browsers map every name to 127.0.0.1; the client does so for ``*.localhost``).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


def _make_server_class(real_ensure_connection: Callable[..., Any]) -> type:
    from django.core.servers.basehttp import ThreadedWSGIServer
    from django.db import connections

    class LiveWSGIServer(ThreadedWSGIServer):
        """Django's threaded test server, whose request threads bypass pytest-django's DB blocker and are joined."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.request_threads: dict[threading.Thread, Any] = {}  # thread -> its client socket
            self._lock = threading.Lock()

        def process_request(self, request: Any, client_address: Any) -> None:
            thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), daemon=True)
            with self._lock:
                self.request_threads = {t: s for t, s in self.request_threads.items() if t.is_alive()}
                self.request_threads[thread] = request
            thread.start()

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            for conn in connections.all(initialized_only=False):
                conn.ensure_connection = types.MethodType(real_ensure_connection, conn)
            super().process_request_thread(request, client_address)

        def join_request_threads(self, timeout: float) -> None:
            """Wait for the request threads; a client that keeps its connection open (keep-alive) has its socket
            shut down first, so its thread ends and closes its database connections."""
            with self._lock:
                threads = dict(self.request_threads)
            for thread, client_socket in threads.items():
                if thread.is_alive():
                    with contextlib.suppress(OSError):
                        client_socket.shutdown(socket.SHUT_RDWR)
            for thread in threads:
                thread.join(timeout)

    return LiveWSGIServer


@dataclass
class LiveServer:
    """The running server: ``url(host, path)`` builds an address on any host name, served on this port."""

    port: int

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def http_get(self, host: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """A plain HTTP GET (no browser, no cookies) to this server with ``Host: host``: (status, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request("GET", path, headers={"Host": f"{host}:{self.port}", **(headers or {})})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@contextmanager
def live_server_running(django_db_blocker: Any) -> Iterator[LiveServer]:
    """A threaded Django server on 127.0.0.1 (random port) serving the session's test database, while inside.

    On exit its threads are joined and their connections closed, so the test database can be dropped at the end of
    the session.
    """
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.test.testcases import LiveServerThread

    with django_db_blocker.unblock():
        real_ensure_connection = BaseDatabaseWrapper.ensure_connection

    class LiveServerThreadOnTestDatabase(LiveServerThread):
        server_class = _make_server_class(real_ensure_connection)

    # No static handler wrapper: the app's own WhiteNoise (with finders in test settings) serves /static/ after the
    # tenant middleware, exactly as in production.
    thread = LiveServerThreadOnTestDatabase("127.0.0.1", static_handler=lambda app: app, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait(timeout=30)
    if thread.error:
        raise thread.error
    try:
        yield LiveServer(port=thread.port)
    finally:
        httpd = thread.httpd
        thread.terminate()  # shutdown() + server_close() + join()
        # Request threads close their DB connections when their socket closes; wait for them.
        httpd.join_request_threads(timeout=10)
