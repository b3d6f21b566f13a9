"""Real services for tests: PostgreSQL, RabbitMQ, Chromium.

Tests that need a real service (PostgreSQL, Redis, RabbitMQ, Chromium) ask for it through
``require_service``: on a machine without it they skip with a visible reason, and when
``ENTRA_AUDITOR_REQUIRE_SERVICES=1`` (set by ``.ci/run``) the skip becomes a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text

POSTGRES_URL = os.environ.get("ENTRA_AUDITOR_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("ENTRA_AUDITOR_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
CHROMIUM = os.environ.get("ENTRA_AUDITOR_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def services_required() -> bool:
    return os.environ.get("ENTRA_AUDITOR_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    """Skip (or, under CI, fail) a test whose service is missing."""
    if services_required():
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(f"service unavailable: {reason}")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture
def require_service() -> Callable[[str, str, int], None]:
    def check(name: str, host: str, port: int) -> None:
        if not port_open(host, port):
            unavailable(f"{name} is not listening on {host}:{port}")

    return check


@pytest.fixture
def postgres_url() -> str:
    if not port_open("127.0.0.1", 5432):
        unavailable("PostgreSQL is not listening on 127.0.0.1:5432")
    return POSTGRES_URL


@pytest.fixture
def amqp_url() -> str:
    if not port_open("127.0.0.1", 5672):
        unavailable("RabbitMQ is not listening on 127.0.0.1:5672")
    return AMQP_URL


@pytest.fixture
def chromium_path() -> str:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def soffice() -> str:
    """LibreOffice's ``soffice`` (the review workbook is opened in LibreOffice Calc by the tests)."""
    path = shutil.which("soffice") or shutil.which("libreoffice")
    if path is None:
        unavailable("LibreOffice (soffice) is not installed (apt-get install libreoffice-calc-nogui)")
    return path


@contextmanager
def fresh_postgres_database(postgres_url: str, prefix: str = "entra_test") -> Iterator[str]:
    """Create a throw-away database on the server of ``postgres_url``; drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
