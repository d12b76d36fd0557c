"""A contribution outlives its consortium's workspace: the link to the consortium becomes empty when the workspace is
deleted (it used to delete the contribution with it, and the lab lost its record and usage report of what it had
shared), and the consortium's slug and name are kept on the record. Existing contributions get them."""

import django.db.models.deletion
from django.db import migrations, models


def keep_consortium_names(apps, schema_editor):
    Contribution = apps.get_model("sharing", "Contribution")
    for contribution in Contribution.objects.select_related("consortium").filter(consortium__isnull=False).iterator():
        contribution.consortium_slug = contribution.consortium.slug
        contribution.consortium_name = contribution.consortium.name
        contribution.save(update_fields=["consortium_slug", "consortium_name"])


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0003_contribution_outlives_lab"),
    ]

    operations = [
        migrations.AddField(
            model_name="contribution",
            name="consortium_name",
            field=models.CharField(
                blank=True, help_text="The consortium's name (kept when it is deleted).", max_length=200
            ),
        ),
        migrations.AddField(
            model_name="contribution",
            name="consortium_slug",
            field=models.CharField(blank=True, help_text="The consortium's slug when offered.", max_length=40),
        ),
        migrations.AlterField(
            model_name="contribution",
            name="consortium",
            field=models.ForeignKey(
                help_text="None once the consortium's workspace is deleted: the lab's record stays, withdrawn.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="contributions_received",
                to="tenants.tenant",
            ),
        ),
        migrations.RunPython(keep_consortium_names, migrations.RunPython.noop),
    ]
