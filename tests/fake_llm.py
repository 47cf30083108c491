"""A local OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, ephemeral port.

It is told per call what to do: answer, fail with a status code, send a broken body, hang, drop
the connection, or hold the reply until a number of requests are in flight at once. It records
calls, bodies, auth headers and the most requests in flight at once (a server-side count, so
concurrency tests do not depend on wall-clock timing).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

HANG_S = 120.0  # "forever" for a test; the server's exit wakes hanging handlers at once


@dataclass
class Reply:
    """What the server does for one call: ``status`` with ``text`` (or raw ``body``) after ``delay`` s.

    ``drop``: close the connection without answering. ``hold_until``: before answering, wait (at
    most ``hold_timeout`` s) until that many requests are in flight at once.
    """

    text: str = ""
    status: int = 200
    delay: float = 0.0
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    hold_until: int = 0
    hold_timeout: float = 10.0


def hang() -> Reply:
    """Accept the request and never answer (until the server shuts down)."""
    return Reply(delay=HANG_S)


def stem_of(body: dict) -> str:
    return re.search(r"Stem removed from the music: (\w+)", body["messages"][-1]["content"]).group(1)


def caption_of(body: dict) -> str:
    return re.search(r"Caption of the music: (.*)", body["messages"][-1]["content"]).group(1)


def good_reply(call: int, body: dict) -> Reply:
    """A valid instruction that echoes the caption, so tests can check the order of results."""
    return Reply(f"Add tight {stem_of(body)} for {caption_of(body)}.")


class FakeLLM:
    """Threaded OpenAI-compatible server recording calls, bodies, auth headers and max in-flight."""

    def __init__(self, behaviour: Callable[[int, dict], Reply] = good_reply):
        self.behaviour = behaviour
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold_timeouts = 0  # replies that gave up waiting for ``hold_until`` requests in flight
        self.bodies: list[dict] = []
        self.auth: set[str] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified when in_flight changes
        self._closing = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with fake._changed:
                    call = fake.calls
                    fake.calls += 1
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fake.bodies.append(body)
                    fake.auth.add(self.headers.get("Authorization", ""))
                    fake._changed.notify_all()
                try:
                    if self.path.rstrip("/") != "/v1/chat/completions":
                        reply = Reply(status=404, body='{"error": {"message": "not found"}}')
                    else:
                        reply = fake.behaviour(call, body)
                    if reply.hold_until:
                        with fake._changed:
                            if not fake._changed.wait_for(
                                lambda: fake.in_flight >= reply.hold_until or fake._closing.is_set(),
                                timeout=reply.hold_timeout,
                            ):
                                fake.hold_timeouts += 1
                    if fake._closing.wait(reply.delay):
                        return  # shutting down: a hanging request stays unanswered
                    if reply.drop:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self._send(reply, body)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the client gave up (timeout test)
                finally:
                    with fake._changed:
                        fake.in_flight -= 1
                        fake._changed.notify_all()

            def _send(self, reply: Reply, body: dict) -> None:
                if reply.body is not None:
                    payload = reply.body
                elif reply.status == 200:
                    payload = json.dumps({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.text}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    })
                else:
                    payload = json.dumps({"error": {"message": f"fake error {reply.status}", "type": "x"}})
                data = payload.encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            request_queue_size = 64  # the default backlog of 5 would stall concurrent connects

            def handle_error(self, request, client_address) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is expected
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FakeLLM":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()  # wakes hanging and holding handlers
        with self._changed:
            self._changed.notify_all()
        self.server.shutdown()
        self.server.server_close()
