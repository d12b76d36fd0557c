"""Portal tests: platform-host clients and helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from core.config import config_reset
from tenants.models import User
from tenants.services import user_get_or_create
from tests.conftest import PASSWORD, unique_email

PLATFORM = "platform.test"


@pytest.fixture
def person(db: None) -> Callable[..., User]:
    """``person()`` -> a verified account that belongs to no workspace."""

    def _make(email: str | None = None) -> User:
        return user_get_or_create(email=email or unique_email("person"), password=PASSWORD)

    return _make


@pytest.fixture
def platform_client(person: Callable[..., User]) -> Callable[..., Client]:
    """``platform_client(user=None, csrf=False)`` -> a session on the platform host (a new person by default)."""

    def _make(user: User | None = None, csrf: bool = False) -> Client:
        who = user or person()
        client = Client(HTTP_HOST=PLATFORM, enforce_csrf_checks=csrf)
        assert client.login(email=who.email, password=PASSWORD)
        client.user = who  # type: ignore[attr-defined]
        return client

    return _make


@pytest.fixture
def platform_setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, Any], None]]:
    """``platform_setting("workspace_creation", "domains")``: a platform setting for this test (environment)."""

    def _set(key: str, value: Any) -> None:
        monkeypatch.setenv(f"BDT_{key.upper()}", str(value))
        config_reset()

    yield _set
    monkeypatch.undo()
    config_reset()
