"""allauth adapter: sign-up governed by the platform's feature flag."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from bdt_project.config import config_get


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up is open only when ``self_signup_allowed`` is on; otherwise people are invited."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(config_get("self_signup_allowed"))
