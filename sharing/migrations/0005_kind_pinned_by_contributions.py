"""A workspace that takes part in sharing keeps its kind, whatever changes it (the console, the platform admin, SQL):
a consortium holding contributed studies that became a lab would stop applying the labs' ceilings and withdrawals to
them. The rule is ``sharing.selectors.contributions_holding_kind``; this trigger refuses any other way around it."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION sharing_kind_pinned() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM sharing_contribution c
        WHERE (c.consortium_id = OLD.id AND (c.status = 'offered' OR c.local_study_id IS NOT NULL))
           OR (c.lab_id = OLD.id AND c.status IN ('offered', 'active'))
    ) THEN
        RAISE EXCEPTION 'workspace % takes part in sharing studies: its kind cannot change', OLD.slug
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER sharing_kind_pinned
    BEFORE UPDATE OF kind ON tenants_tenant
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind) EXECUTE FUNCTION sharing_kind_pinned();
"""

DROP = """
DROP TRIGGER IF EXISTS sharing_kind_pinned ON tenants_tenant;
DROP FUNCTION IF EXISTS sharing_kind_pinned();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0004_contribution_outlives_consortium"),
        ("tenants", "0001_initial"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
