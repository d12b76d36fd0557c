"""A contributed study keeps the terms it was contributed under: acceptance installs the lab's terms, and the
consortium's stewards cannot publish others over them (API and console)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.plugins.sharing import error_code, offer_and_accept

pytestmark = pytest.mark.django_db

LAB_TERMS = "Cite lab A. Do not re-identify participants."


def test_a_consortium_steward_cannot_replace_the_terms_of_a_contributed_study(
    gov: str, steward_api: Any, cons_steward: Any, consortium: Any
) -> None:
    offer_and_accept(steward_api, cons_steward, "gov", "gov-c", level="query", terms=LAB_TERMS)
    terms_url = "/api/v1/studies/gov-c/terms"
    assert [t["text"] for t in cons_steward.get(terms_url).json()] == [LAB_TERMS]  # installed at acceptance

    replaced = cons_steward.post(terms_url, {"text": "Anything goes."})
    assert replaced.status_code == 403 and error_code(replaced) == "contributed_study_read_only", replaced.content
    assert "contributed by" in replaced.json()["error"]["message"]

    page = Client(HTTP_HOST=consortium.primary_domain_name())
    page.force_login(cons_steward.user)
    answer = page.post("/console/terms/", {"study": "gov-c", "text": "Anything goes."}, follow=True)
    assert "cannot be replaced here" in answer.content.decode()

    assert [t["text"] for t in cons_steward.get(terms_url).json()] == [LAB_TERMS]
    # The lab still publishes terms for its own study.
    assert steward_api.post("/api/v1/studies/gov/terms", {"text": "Cite lab A, v2."}).status_code == 201
