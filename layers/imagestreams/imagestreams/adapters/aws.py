"""The boto3 session every AWS client of a process is made from.

A boto3 session loads the SDK's endpoint and partition data; clients made
from one session share it, so a cold start that builds clients of two or
three services (DynamoDB, Secrets Manager, SQS) pays that loading once:
about half the time of building them from a session each. boto3 sessions
are not safe to build clients from in several threads at once, so clients
are built under a lock. The session is made on the first client, never at
import; :func:`forget` drops it (a new process, in tests and the benchmark).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3

_lock = threading.Lock()
_session: boto3.session.Session | None = None


def client(service: str, **options: Any) -> Any:
    """A client of ``service`` (boto3's ``client`` options) from the process's session."""
    global _session
    with _lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(service, **options)  # type: ignore[call-overload]


def forget() -> None:
    """Drop the session: the next client starts a new one."""
    global _session
    with _lock:
        _session = None
