"""One SSL context per process, built on first use and shared by every client.

httpx builds a context (and loads the certificate store, ~53 ms) for each client it creates; the
fan-out creates one AsyncClient per call, so a re-run that sends nothing still paid for it. A
context is safe to share between threads and event loops. Like httpx's default, it honours
SSL_CERT_FILE / SSL_CERT_DIR, as they were when the first client was made.
"""

from __future__ import annotations

import ssl
import threading

import httpx

_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    global _context
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context()
        return _context
