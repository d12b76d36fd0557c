"""A contribution outlives its lab's workspace: the link to the lab becomes empty when the workspace is deleted (it
used to delete the contribution with it, leaving the consortium's copy of the study without its ceiling), and the
lab's slug and name are kept on the record. Existing contributions get their lab's slug and name."""

import django.db.models.deletion
from django.db import migrations, models


def keep_lab_names(apps, schema_editor):
    Contribution = apps.get_model("sharing", "Contribution")
    for contribution in Contribution.objects.select_related("lab").filter(lab__isnull=False).iterator():
        contribution.lab_slug, contribution.lab_name = contribution.lab.slug, contribution.lab.name
        contribution.save(update_fields=["lab_slug", "lab_name"])


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0002_ceiling_raise_expiry"),
        ("tenants", "0006_workspace_quotas_suspension"),
    ]

    operations = [
        migrations.AddField(
            model_name="contribution",
            name="lab_name",
            field=models.CharField(blank=True, help_text="The lab's name (kept when it is deleted).", max_length=200),
        ),
        migrations.AddField(
            model_name="contribution",
            name="lab_slug",
            field=models.CharField(blank=True, help_text="The lab's slug when it offered.", max_length=40),
        ),
        migrations.AlterField(
            model_name="contribution",
            name="lab",
            field=models.ForeignKey(
                help_text="None once the lab's workspace is deleted: the record stays, withdrawn (lab_slug, lab_name).",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="contributions_made",
                to="tenants.tenant",
            ),
        ),
        migrations.RunPython(keep_lab_names, migrations.RunPython.noop),
    ]
