"""Browser (e2e) tests: a live server on the session's test database, and Debian's Chromium driven by Playwright.

How this works with django-tenants:

* The tenants live in the test database for the whole session (``tests/conftest.py`` creates them, committed).
  pytest-django's ``live_server`` would force ``transactional_db``, whose flush truncates those public tables, so
  these tests do NOT use it. Instead, a session-scoped Django ``LiveServerThread`` serves the test database, and the
  tests create their data committed (``django_db_blocker.unblock()``, outside any test transaction) with unique
  e-mail addresses, in tenants of their own (``lab-e2e``, ``lab-e2e-b``), so other tests' counts are undisturbed.
* pytest-django blocks database access by patching ``BaseDatabaseWrapper.ensure_connection`` on the class, which
  would also block the server's request threads. Each request thread therefore gets the real method on its own
  (thread-local) connection objects: the server works whatever the test thread's blocker state is.
* Tenants are resolved by the Host header: Chromium is started with ``--host-resolver-rules=MAP * 127.0.0.1``, so
  ``http://lab-e2e.localhost:<port>/`` (or any other name) reaches the live server with that Host.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import LiveServer, live_server_running

CHROMIUM = os.environ.get("BDT_CHROMIUM", "/usr/bin/chromium")  # Debian's package (scripts/ensure_browser.sh)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Every host name resolves to this machine, so tenant hosts need no /etc/hosts entries.
    "--host-resolver-rules=MAP * 127.0.0.1",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".bdt" / "screenshots"

E2E_TENANT = ("lab-e2e", "Lab E2E", "lab-e2e.localhost")
E2E_TENANT_B = ("lab-e2e-b", "Lab E2E Bravo", "lab-e2e-b.localhost")
PASSWORD = "e2e-correct-horse-battery-9"
DEFAULT_TIMEOUT_MS = 10_000  # generous: other test runs may share this machine's two cores


def _browser_missing_reason() -> str | None:
    if Path(CHROMIUM).exists():
        return None
    return f"{CHROMIUM} is missing: run scripts/ensure_browser.sh (as root) to install Debian's chromium"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Chromium, skip the e2e tests, unless BDT_REQUIRE_BROWSER=1 (CI): then each fails (``browser``)."""
    reason = _browser_missing_reason()
    if reason is None or os.environ.get("BDT_REQUIRE_BROWSER") == "1":
        return
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.skip(reason=reason))


# --- The live server (tests/live_server.py) -----------------------------------------------------------------------


@pytest.fixture(scope="package")
def e2e_live_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[LiveServer]:
    """The live server (see ``tests.live_server``) for the e2e tests: it starts with the first e2e test and stops
    after the last one, before the rest of the suite goes on."""
    with live_server_running(django_db_blocker) as server:
        yield server


# --- Tenants and users (committed) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class E2ETenant:
    slug: str
    name: str
    domain: str

    def obj(self) -> Any:
        from tenants.models import Tenant

        return Tenant.objects.get(slug=self.slug)


@pytest.fixture(scope="session")
def e2e_tenants(django_db_setup: None, django_db_blocker: Any) -> tuple[E2ETenant, E2ETenant]:
    """Two tenants used only by the e2e tests (created once, committed)."""
    from django.db import connection

    from tenants.services import tenant_create

    with django_db_blocker.unblock():
        for slug, name, domain in (E2E_TENANT, E2E_TENANT_B):
            tenant_create(slug=slug, name=name, domain=domain)
        connection.set_schema_to_public()
    return E2ETenant(*E2E_TENANT), E2ETenant(*E2E_TENANT_B)


@pytest.fixture(autouse=True)
def db(e2e_tenants: tuple[E2ETenant, E2ETenant]) -> None:
    """Replaces pytest-django's ``db`` for the e2e tests: the test database is set up, but no test transaction.

    pytest-django creates the test database only for the databases that collected tests ask for (through ``db``,
    ``transactional_db``, ``live_server`` or the ``django_db`` mark), so a run of only ``tests/e2e`` would otherwise
    get none. Its ``db`` would also wrap each test in a transaction, whose data the live server's threads could not
    see. This fixture of the same name satisfies the first and avoids the second: e2e data is created committed
    (``make_user``), in the e2e tenants, with unique e-mail addresses.
    """


@pytest.fixture(scope="session")
def e2e_tenant(e2e_tenants: tuple[E2ETenant, E2ETenant]) -> E2ETenant:
    return e2e_tenants[0]


@pytest.fixture(scope="session")
def e2e_tenant_b(e2e_tenants: tuple[E2ETenant, E2ETenant]) -> E2ETenant:
    return e2e_tenants[1]


@dataclass(frozen=True)
class E2EUser:
    email: str
    password: str
    pk: int


@pytest.fixture
def committed_db(django_db_blocker: Any) -> Callable[[], AbstractContextManager[None]]:
    """``with committed_db(): ...`` runs ORM code in the test thread, autocommitted (no test transaction).

    Its connections are closed afterwards: while Playwright's event loop runs in the test thread, Django keeps the
    test's connection in a context variable rather than the thread, so pytest-django's teardown would not see (and
    close) it, and the test database could not be dropped at the end of the session.
    """
    from django.db import connection, connections

    @contextmanager
    def _committed() -> Iterator[None]:
        with django_db_blocker.unblock():
            try:
                yield
            finally:
                connection.set_schema_to_public()
                connections.close_all()

    return _committed


@pytest.fixture
def make_user(
    committed_db: Callable[[], AbstractContextManager[None]], request: pytest.FixtureRequest
) -> Callable[..., E2EUser]:
    """``make_user((tenant, role), ...)`` -> a committed user with a unique e-mail, a password and these memberships.

    With no (tenant, role) pairs, the user belongs to no workspace.
    """
    from tenants.services import membership_set, user_get_or_create

    def _make(*memberships: tuple[E2ETenant, str], prefix: str = "e2e") -> E2EUser:
        test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:30]
        email = f"{prefix}-{test}-{uuid.uuid4().hex[:8]}@example.org"
        with committed_db():
            user = user_get_or_create(email=email, password=PASSWORD)
            for tenant, role in memberships:
                membership_set(tenant=tenant.obj(), user=user, role=role)
        return E2EUser(email=email, password=PASSWORD, pk=user.pk)

    return _make


# --- The browser -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def _allow_orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run there without this.

    Set only while the e2e tests run (Django reads it at each call): left in ``os.environ``, it would reach the
    subprocesses of later tests, where ``check --deploy`` rightly reports it (async.E001).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="package")
def browser(_allow_orm_beside_playwright: None) -> Iterator[Any]:
    """Debian's Chromium, headless, launched once for the e2e tests (each test gets its own fresh context).

    Package-scoped, not session-scoped: Playwright's sync API keeps an asyncio loop marked as running in the main
    thread while it is started, which would change how Django keeps connections for every later (non-e2e) test.
    """
    reason = _browser_missing_reason()
    if reason is not None:
        if os.environ.get("BDT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"BDT_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=DEFAULT_TIMEOUT_MS)

    with sync_playwright() as playwright:
        # launch() starts Chromium with a new, empty, temporary user data dir.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(e2e_live_server: LiveServer, browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) per test.

    (The order of the arguments matters: the browser is closed before the server stops.)
    """
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
    ctx.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page in the test's context; on failure, a screenshot is saved to .bdt/screenshots/<test>-FAILED.png."""
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and not page.is_closed():
        with contextlib.suppress(Exception):  # the browser may be the thing that failed
            page.screenshot(path=str(_screenshot_path(request.node.name, "FAILED")), full_page=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _screenshot_path(test_name: str, suffix: str = "") -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name) + (f"-{suffix}" if suffix else "")
    return SCREENSHOTS / f"{stem}.png"


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``screenshot(page)`` saves .bdt/screenshots/<test>.png; ``screenshot(page, "step")`` <test>-step.png."""

    def _shot(page: Any, step: str = "") -> Path:
        path = _screenshot_path(request.node.name, step)
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot


# --- Page helpers ------------------------------------------------------------------------------------------------


@dataclass
class Site:
    """URLs on the live server for one host, and the sign-in steps a user takes there."""

    server: LiveServer
    host: str

    def url(self, path: str = "/") -> str:
        return self.server.url(self.host, path)

    def sign_in(self, page: Any, email: str, password: str, *, next_path: str | None = None) -> Any:
        """Open the sign-in page on this host, fill in e-mail and password, submit; returns the final response."""
        path = "/accounts/login/" + (f"?next={next_path}" if next_path else "")
        page.goto(self.url(path))
        page.get_by_label(re.compile("e-?mail", re.I)).fill(email)
        page.get_by_label(re.compile("password", re.I)).fill(password)
        with page.expect_navigation() as nav:
            page.get_by_role("button", name=re.compile("sign in", re.I)).click()
        return nav.value


@pytest.fixture
def site(e2e_live_server: LiveServer, e2e_tenant: E2ETenant) -> Site:
    return Site(e2e_live_server, e2e_tenant.domain)


@pytest.fixture
def site_b(e2e_live_server: LiveServer, e2e_tenant_b: E2ETenant) -> Site:
    return Site(e2e_live_server, e2e_tenant_b.domain)


def seed_study_with_run(
    committed_db: Callable[[], AbstractContextManager[None]],
    tenant: E2ETenant,
    tmp_path: Path,
    analyst_pk: int,
    *,
    prefix: str,
    participants: int,
) -> tuple[str, int]:
    """A committed study (demographics at BAS1 + FU1, a one-session ``memory`` table of ``participants`` people) and
    a finished run of it by the analyst, picking ``memory.score``. Returns (study slug, run id)."""
    from django_tenants.utils import tenant_context

    from datasets.services import ingest_file_sync, study_create
    from queries.run_worker import query_run_execute
    from queries.services import query_run_create
    from tenants.models import User

    people = range(1, participants + 1)
    tables = {
        "demographics": "participant_id,session,age\n"
        + "".join(f"P{i:02d},{s},{20 + i}\n" for i in people for s in ("BAS1", "FU1")),
        "memory": "participant_id,session,score\n" + "".join(f"P{i:02d},BAS1,{90 + i}\n" for i in people),
    }
    slug = f"{prefix}-{uuid.uuid4().hex[:6]}"
    with committed_db(), tenant_context(tenant.obj()):
        study = study_create(
            tenant=tenant.obj(),
            actor=None,
            slug=slug,
            name=slug.title(),
            id_column="participant_id",
            session_column="session",
        )
        for name, text in tables.items():
            path = tmp_path / f"{name}.csv"
            path.write_text(text, encoding="utf-8")
            kind = "demographics" if name == "demographics" else "measure"
            assert ingest_file_sync(study=study, path=path, dataset_name=name, kind=kind).version
        run = query_run_create(
            tenant=tenant.obj(),
            actor=User.objects.get(pk=analyst_pk),
            study=study,
            payload={"columns": {"memory": ["score"]}},
            enqueue=False,
        )
        assert query_run_execute(run.pk) == "succeeded"
    return slug, run.pk
