import pytest


@pytest.mark.django_db
def test_health_ok(client):
    response = client.get("/api/v1/health", HTTP_HOST="lab-a.test")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_me(api, tenant_a):
    c = api(tenant_a, "steward")
    r = c.get("/api/v1/me")
    assert r.status_code == 200, r.content
    assert r.json()["role"] == "steward"
