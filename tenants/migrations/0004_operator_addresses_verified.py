"""Sign-in now needs a verified address. Accounts made by operators (``tenant_create --owner``, ``token_create``,
``seed_demo``, ``createsuperuser``) never had an allauth record of their address: the operator vouched for it, so it
is recorded as verified. Accounts that typed an address themselves (sign-up, the e-mail page) already have a record,
verified or not, and are left exactly as they are."""

from django.db import migrations


def vouch_operator_addresses(apps, schema_editor):
    User = apps.get_model("tenants", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    with_records = EmailAddress.objects.values_list("user_id", flat=True)
    for user in User.objects.exclude(pk__in=with_records).exclude(email="").iterator():
        address = user.email.lower()
        if EmailAddress.objects.filter(email__iexact=address, verified=True).exists():
            continue  # another account proved this address; this one stays unverified
        EmailAddress.objects.create(user=user, email=address, verified=True, primary=True)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_apitoken_scope_parent"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(vouch_operator_addresses, migrations.RunPython.noop)]
