"""Every migration that converts data gets a test with data: migrate a scratch schema (a tenant app) or a scratch
database (a shared app, whose tables live in the public schema) to the migration before it, load rows with that
state's models, apply the migration with the real executor, check with the current code.

``test_every_data_migration_has_a_test`` finds the platform's migrations that touch data (RunPython, RunSQL, or an
AlterField that changes a column's database type, compared on the rendered historical models before and after the
operation) and fails for one without an entry in DATA_MIGRATION_TESTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AlterField, RunPython, RunSQL
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event_digest
from audit.verification import audit_chain_verify
from queries.core.spec import spec_hash
from queries.models import QueryRun, SavedQuery
from sharing.models import Contribution
from tenants.emails import email_verified_user, user_email_verified
from tenants.models import Tenant, User
from tests.backups.databases import fresh_database
from tests.backups.migrator import schema_migrate, scratch_schema

SCHEMA = "t_migration_check"
# Submitted order "cognitive" then "flanker"; jsonb stores the shorter key first.
REORDERED = {"columns": {"cognitive": ["memory"], "flanker": ["accuracy"]}}
KEPT = {"columns": {"flanker": ["accuracy"], "cognitive": ["memory"]}}

DATA_MIGRATION_TESTS = {
    ("queries", "0003_spec_keeps_key_order"): "test_queries_0003_specs_survive_the_jsonb_to_text_conversion",
    ("audit", "0003_append_only_trigger"): "test_audit_0003_chains_survive_and_become_append_only",
    ("tenants", "0004_operator_addresses_verified"): "test_tenants_0004_vouches_only_for_operator_made_addresses",
    ("sharing", "0003_contribution_outlives_lab"): "test_sharing_0003_0004_contributions_keep_both_sides_names",
    ("sharing", "0004_contribution_outlives_consortium"): "test_sharing_0003_0004_contributions_keep_both_sides_names",
    ("sharing", "0005_kind_pinned_by_contributions"): "test_sharing_0005_pins_the_kind_of_workspaces_already_sharing",
}
# The state just before tenants.0004: its own dependencies (tenants and allauth's account app are shared apps).
BEFORE_VOUCHING = [("tenants", "0003_apitoken_scope_parent"), ("account", "0009_emailaddress_unique_primary_email")]


@pytest.fixture
def scratch(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    with django_db_blocker.unblock(), scratch_schema(SCHEMA) as name:
        yield name


@pytest.fixture
def scratch_database(django_db_setup: None, django_db_blocker: Any, tmp_path: Path) -> Iterator[str]:
    """A new database (dropped afterwards) for migrations of shared apps, whose tables live in the public schema."""
    with django_db_blocker.unblock(), fresh_database("migration_check", tmp_path) as name:
        yield name


def _platform_migrations() -> Iterator[tuple[str, str, Any, Any]]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    root = Path(settings.BASE_DIR)
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        module = Path(__import__(migration.__module__, fromlist=["_"]).__file__ or "")
        if root in module.parents and ".venv" not in module.parts:
            yield app, name, migration, loader


def _field_db_type(state: ProjectState, app: str, model: str, field: str) -> str | None:
    """The database column type of ``app.model.field`` in ``state``, read from its rendered historical model (a
    ForeignKey's type is its target's key type, so the related model must be resolved)."""
    return state.apps.get_model(app, model)._meta.get_field(field).db_type(connection)  # type: ignore[union-attr]


def _touches_data(app: str, name: str, migration: Any, loader: MigrationLoader) -> bool:
    if any(isinstance(operation, RunPython | RunSQL) for operation in migration.operations):
        return True
    if not any(isinstance(operation, AlterField) for operation in migration.operations):
        return False
    state = loader.project_state((app, name), at_end=False)
    for operation in migration.operations:  # step through the migration: the state before and after each operation
        if isinstance(operation, AlterField):
            before = _field_db_type(state, app, operation.model_name, operation.name)
            operation.state_forwards(app, state)
            if _field_db_type(state, app, operation.model_name, operation.name) != before:
                return True
        else:
            operation.state_forwards(app, state)
    return False


def test_every_data_migration_has_a_test() -> None:
    found = {
        (app, name)
        for app, name, migration, loader in _platform_migrations()
        if _touches_data(app, name, migration, loader)
    }
    assert ("queries", "0003_spec_keeps_key_order") in found  # the detector sees a type-changing AlterField
    assert ("datasets", "0004_bdt_import") not in found  # ... and not one that only makes a foreign key nullable
    missing = sorted(found - set(DATA_MIGRATION_TESTS))
    assert missing == [], f"data migrations without a with-data test here: {missing}"
    for test_name in DATA_MIGRATION_TESTS.values():
        assert callable(globals().get(test_name)), test_name


def _column_type(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "AND column_name = %s",
            [SCHEMA, table, column],
        )
        return str(cursor.fetchone()[0])


def test_queries_0003_specs_survive_the_jsonb_to_text_conversion(scratch: str) -> None:
    apps = schema_migrate(scratch, [("queries", "0002_queryexport")])
    assert _column_type("queries_queryrun", "spec") == "jsonb"
    study = apps.get_model("datasets", "Study").objects.create(slug="memory", name="Memory", id_column="id")
    dataset = apps.get_model("datasets", "Dataset").objects.create(study=study, name="demographics")
    version = apps.get_model("datasets", "DatasetVersion").objects.create(
        dataset=dataset, number=1, sha256="a" * 64, parquet_sha256="b" * 64, original_filename="d.csv",
        original_file="tenants/x/original.csv", parquet_file="tenants/x/data.parquet", size_bytes=1,
        parquet_size_bytes=1, row_count=1,
    )  # fmt: skip
    old_run = apps.get_model("queries", "QueryRun")
    runs = {}
    for label, spec in (("reordered", REORDERED), ("kept", KEPT)):
        run = old_run.objects.create(
            study=study, spec=spec, spec_hash=spec_hash(spec), cache_key="c" * 64, engine="duckdb"
        )
        apps.get_model("queries", "QueryRunVersion").objects.create(
            run=run, version=version, dataset_name="demographics", number=1, sha256=version.sha256
        )
        runs[label] = run.pk
    apps.get_model("queries", "SavedQuery").objects.create(study=study, name="saved", spec=REORDERED, owner_id=1)
    # Before 0003 the order was already jsonb's: the shorter key first, whatever was submitted.
    assert list(old_run.objects.get(pk=runs["reordered"]).spec["columns"]) == ["flanker", "cognitive"]

    schema_migrate(scratch, [("queries", "0003_spec_keeps_key_order")])
    assert _column_type("queries_queryrun", "spec") == "text"
    assert _column_type("queries_savedquery", "spec") == "text"
    for label, spec in (("reordered", REORDERED), ("kept", KEPT)):
        run = QueryRun.objects.get(pk=runs[label])
        assert run.spec == spec  # the same JSON object (not a string), every value kept
        assert list(run.spec["columns"]) == ["flanker", "cognitive"]  # the order jsonb had stored
        assert [pin.sha256 for pin in run.pinned.all()] == ["a" * 64]  # lineage intact
    kept = QueryRun.objects.get(pk=runs["kept"])
    assert spec_hash(kept.spec) == kept.spec_hash  # a run whose order jsonb did not change keeps its hash
    assert SavedQuery.objects.get().spec == REORDERED
    # From 0003 on, what is written keeps its order.
    fresh = SavedQuery.objects.create(study_id=study.pk, name="new", spec=REORDERED, owner_id=1)
    assert list(SavedQuery.objects.get(pk=fresh.pk).spec["columns"]) == ["cognitive", "flanker"]


def test_audit_0003_chains_survive_and_become_append_only(scratch: str) -> None:
    apps = schema_migrate(scratch, [("audit", "0002_initial")])
    model = apps.get_model("audit", "AuditEvent")
    previous = ""
    for number in range(5):
        event = model(
            at=timezone.now(), action="study.created", target_id=str(number), details={"n": number}, prev_hash=previous
        )
        event.hash = audit_event_digest(event)  # type: ignore[arg-type]
        event.save(force_insert=True)
        previous = event.hash
    model.objects.filter(target_id="0").update(user_agent="")  # before 0003 nothing stopped an edit

    schema_migrate(scratch, [("audit", "0003_append_only_trigger")])
    report = audit_chain_verify()
    assert report.ok and report.events == 5
    assert AuditEvent.objects.order_by("-id").first().hash == previous  # type: ignore[union-attr]
    for statement in ("UPDATE audit_auditevent SET action = 'x'", "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.count() == 5


def test_tenants_0004_vouches_only_for_operator_made_addresses(scratch_database: str) -> None:
    apps = schema_migrate("public", BEFORE_VOUCHING)
    assert ("tenants", "0004_operator_addresses_verified") not in MigrationRecorder(connection).applied_migrations()
    old_user, old_address = apps.get_model("tenants", "User"), apps.get_model("account", "EmailAddress")
    users = {
        label: old_user.objects.create(email=email, password="!").pk
        for label, email in (
            ("operator", "Ada.Operator@Lab.example"),  # made by tenant_create --owner: no allauth record
            ("pending", "pending@lab.example"),  # signed up, never opened the confirmation link
            ("confirmed", "confirmed@lab.example"),  # signed up and confirmed; later also confirmed a second address
            ("claimant", "Shared@Lab.example"),  # operator-made, but the confirmed account proved this address
            ("no_address", ""),
        )
    }
    for label, email, verified, primary in (
        ("pending", "pending@lab.example", False, True),
        ("confirmed", "confirmed@lab.example", True, True),
        ("confirmed", "shared@lab.example", True, False),
    ):
        old_address.objects.create(user_id=users[label], email=email, verified=verified, primary=primary)
    records_before = set(old_address.objects.values_list("pk", "user_id", "email", "verified", "primary"))

    schema_migrate("public", [("tenants", "0004_operator_addresses_verified")])
    records = set(EmailAddress.objects.values_list("pk", "user_id", "email", "verified", "primary"))
    assert records_before <= records  # every record people made is exactly as it was
    added = {(user_id, email, verified, primary) for _, user_id, email, verified, primary in records - records_before}
    assert added == {(users["operator"], "ada.operator@lab.example", True, True)}  # one verified primary address
    # With the current code: the operator-made account's address counts, the accounts with records are unchanged,
    # and the address another account proved still finds that account only.
    verified = {label: user_email_verified(User.objects.get(pk=pk)) for label, pk in users.items()}
    assert verified == {
        "operator": True, "pending": False, "confirmed": True, "claimant": False, "no_address": False,
    }  # fmt: skip
    assert email_verified_user("Ada.Operator@lab.example").pk == users["operator"]  # type: ignore[union-attr]
    assert email_verified_user("shared@lab.example").pk == users["confirmed"]  # type: ignore[union-attr]
    assert email_verified_user("pending@lab.example") is None


def test_sharing_0003_0004_contributions_keep_both_sides_names(scratch_database: str) -> None:
    """Contributions made before 0003 get their lab's and consortium's slug and name, so the record still names both
    once either workspace is deleted (its link then becomes empty instead of deleting the contribution)."""
    apps = schema_migrate("public", [("sharing", "0002_ceiling_raise_expiry")])
    old_tenant, old_contribution = apps.get_model("tenants", "Tenant"), apps.get_model("sharing", "Contribution")
    lab = old_tenant.objects.create(schema_name="t_lab_old", slug="lab-old", name="Lab Old", kind="lab")
    consortium = old_tenant.objects.create(
        schema_name="t_cons_old", slug="cons-old", name="Consortium Old", kind="consortium"
    )
    made = {
        status: old_contribution.objects.create(
            lab=lab, consortium=consortium, study_id=n, study_slug=f"s{n}", study_name=f"S{n}", level="count",
            status=status,
        ).pk
        for n, status in enumerate(("active", "withdrawn", "offered"), 1)
    }  # fmt: skip

    schema_migrate("public", [("sharing", "0004_contribution_outlives_consortium")])
    for pk in made.values():
        c = Contribution.objects.select_related("lab", "consortium").get(pk=pk)
        assert (c.lab_slug, c.lab_name, c.consortium_slug, c.consortium_name) == (
            "lab-old", "Lab Old", "cons-old", "Consortium Old",
        )  # fmt: skip
        assert c.lab_shown == ("lab-old", "Lab Old") and c.consortium_shown == ("cons-old", "Consortium Old")
    # The links may now be empty: what a deleted workspace leaves (the names stay).
    Contribution.objects.filter(pk=made["withdrawn"]).update(lab=None, consortium=None)
    gone = Contribution.objects.get(pk=made["withdrawn"])
    assert gone.lab_shown == ("lab-old", "Lab Old") and gone.consortium_shown == ("cons-old", "Consortium Old")
    assert Contribution.objects.get(pk=made["active"]).status == "active"  # statuses untouched


def test_sharing_0005_pins_the_kind_of_workspaces_already_sharing(scratch_database: str) -> None:
    """Workspaces that shared before 0005 keep every row and from then on keep their kind; the others do not."""
    apps = schema_migrate("public", [("sharing", "0004_contribution_outlives_consortium")])
    old_tenant, old_contribution = apps.get_model("tenants", "Tenant"), apps.get_model("sharing", "Contribution")
    made = {
        slug: old_tenant.objects.create(schema_name=f"t_{slug.replace('-', '_')}", slug=slug, name=slug, kind=kind)
        for slug, kind in (("lab-a", "lab"), ("cons-a", "consortium"), ("lab-b", "lab"), ("cons-b", "consortium"))
    }
    old_contribution.objects.create(
        lab=made["lab-a"], consortium=made["cons-a"], study_id=1, study_slug="s1", study_name="S1", level="count",
        status="active", local_study_id=7,
    )  # fmt: skip
    old_contribution.objects.create(
        lab=made["lab-b"], consortium=made["cons-b"], study_id=2, study_slug="s2", study_name="S2", level="count",
        status="declined",
    )  # fmt: skip

    schema_migrate("public", [("sharing", "0005_kind_pinned_by_contributions")])
    assert Contribution.objects.count() == 2 and Tenant.objects.filter(slug__in=made).count() == 4
    for slug, kind in (("cons-a", "lab"), ("lab-a", "consortium")):
        with pytest.raises(IntegrityError), transaction.atomic():
            Tenant.objects.filter(slug=slug).update(kind=kind)
    Tenant.objects.filter(slug="cons-b").update(kind="lab")  # a declined offer holds nothing
    Tenant.objects.filter(slug="lab-b").update(name="Lab B renamed")  # other columns change freely
    kinds = dict(Tenant.objects.filter(slug__in=made).values_list("slug", "kind"))
    assert kinds == {"lab-a": "lab", "cons-a": "consortium", "lab-b": "lab", "cons-b": "lab"}
