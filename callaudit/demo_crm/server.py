"""Running the simulator: in the foreground for `callaudit demo-crm`, or in a thread for tests.

Neither installs uvicorn's own logging configuration (`log_config=None`), so records go through
the product's logging set-up and its secret scrubbing; shutdown waits at most a few seconds for
requests a simulated timeout keeps hanging.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn

from callaudit.demo_crm.app import create_app
from callaudit.demo_crm.config import SimulatorConfig

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 3
STARTUP_TIMEOUT_SECONDS = 10.0


def serve(host: str, port: int, config: SimulatorConfig, *, access_log: bool = False) -> None:
    """Serve the simulator until interrupted (blocking)."""
    log.info(
        "demo CRM simulator (synthetic data, not a real CRM) on http://%s:%d: seed=%d, %d fiches/day, auth %s",
        host,
        port,
        config.seed,
        config.fiches_per_day,
        "on" if config.token else "off",
    )
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


@contextlib.contextmanager
def run_in_thread(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Start the simulator in a background thread and yield its base URL; stop it on exit.

    The socket is bound here (port 0: any free port), so the URL is known before uvicorn starts and
    no other process can take the port in between.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=host,
            port=bound_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="demo-crm", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("demo CRM simulator did not start")
            time.sleep(0.01)
        url_host = f"[{host}]" if ":" in host else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=GRACEFUL_SHUTDOWN_SECONDS + 5)
        sock.close()
