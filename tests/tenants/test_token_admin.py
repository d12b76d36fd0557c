"""The platform admin cannot bring a token back: who it acts for, its scope, lifetime and revocation are read-only
there (tokens are made and revoked through the audited API and settings page)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tenants.models import ApiToken
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_admin_cannot_unrevoke_or_extend_a_token(api, tenant_a, make_member) -> None:
    holder = api(tenant_a)
    token_id = holder.get("/api/v1/tokens").json()["items"][0]["id"]
    assert holder.delete(f"/api/v1/tokens/{token_id}").status_code == 200
    before = ApiToken.objects.get(pk=token_id)
    assert before.revoked_at is not None

    operator = make_member(tenant_a, "owner")
    operator.is_staff = operator.is_superuser = True
    operator.save()
    admin = Client(HTTP_HOST="platform.test")
    assert admin.login(email=operator.email, password=PASSWORD)
    url = f"/admin/tenants/apitoken/{token_id}/change/"
    page = admin.get(url)
    assert page.status_code == 200
    for field in ("revoked_at", "expires_at", "scope", "user", "tenant"):
        assert f'name="{field}' not in page.content.decode()

    later = timezone.now() + timedelta(days=365)
    edited = admin.post(
        url,
        {
            "name": "renamed",
            "revoked_at_0": "",
            "revoked_at_1": "",
            "expires_at_0": later.date().isoformat(),
            "expires_at_1": "12:00:00",
            "scope": "full",
        },
    )
    assert edited.status_code == 302, edited.content
    after = ApiToken.objects.get(pk=token_id)
    assert after.name == "renamed"  # the label stays editable
    assert (after.revoked_at, after.expires_at, after.scope) == (before.revoked_at, before.expires_at, before.scope)
    assert holder.get("/api/v1/me").status_code == 401  # still revoked
    assert admin.get("/admin/tenants/apitoken/add/").status_code == 403
