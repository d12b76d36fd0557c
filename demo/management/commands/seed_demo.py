"""``seed_demo [--tenant SLUG] [--participants N] [--seed S]``: the demo lab, its people and demo study; for the
default lab also the demo consortium it shares the study into (``demo.consortium``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApiError
from tenants.roles import Role
from tenants.services import domain_add, membership_set, public_tenant_ensure, tenant_create, user_get_or_create

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - documented demo login
DEMO_PEOPLE = [
    ("owner@demo.local", Role.OWNER, "Olivia Owner"),
    ("steward@demo.local", Role.STEWARD, "Sam Steward"),
    ("analyst@demo.local", Role.ANALYST, "Ana Analyst"),
    ("researcher@demo.local", Role.ANALYST, "Rafa Researcher"),
    ("viewer@demo.local", Role.VIEWER, "Victor Viewer"),
]


class Command(BaseCommand):
    help = "Create the demo lab (answering on localhost and 127.0.0.1), its demo users and demo study. Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="demo", help="Slug of the demo tenant (default: demo).")
        parser.add_argument("--participants", type=int, default=3000, help="Participants in the demo study.")
        parser.add_argument("--seed", type=int, default=42, help="Random seed of the demo data.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["participants"] < 1:
            raise CommandError("--participants must be at least 1.")
        public_tenant_ensure()
        slug = options["tenant"]
        try:
            domains = ["localhost", "127.0.0.1"] if slug == "demo" else [f"{slug}.localhost"]
            result = tenant_create(
                slug=slug, name="Demo Lab" if slug == "demo" else f"Demo Lab ({slug})", domain=domains[0]
            )
            for extra in domains[1:]:
                domain_add(tenant=result.tenant, domain=extra)
            for email, role, full_name in DEMO_PEOPLE:
                user = user_get_or_create(email=email, full_name=full_name)
                if not user.has_usable_password():
                    user.set_password(DEMO_PASSWORD)
                    user.save(update_fields=["password"])
                membership_set(tenant=result.tenant, user=user, role=role)
        except ApiError as exc:
            raise CommandError(exc.message) from exc
        from demo.study import demo_study_seed

        demo_study_seed(
            tenant=result.tenant, participants=options["participants"], seed=options["seed"], stdout=self.stdout
        )
        from demo.governance import demo_governance_seed
        from tenants.models import User

        demo_governance_seed(
            tenant=result.tenant,
            steward=User.objects.get(email="steward@demo.local"),
            core_analyst=User.objects.get(email="analyst@demo.local"),
            stdout=self.stdout,
        )
        if slug == "demo":  # the consortium shares the default demo lab's study
            from demo.consortium import demo_consortium_seed

            demo_consortium_seed(
                lab=result.tenant,
                people={email: User.objects.get(email=email) for email, _, _ in DEMO_PEOPLE},
                members=[
                    ("owner@demo.local", Role.OWNER),
                    ("steward@demo.local", Role.STEWARD),
                    ("analyst@demo.local", Role.ANALYST),
                ],
                stdout=self.stdout,
            )
        self.stdout.write(
            f"Demo lab ready: http://{domains[0]}:8000/ — sign in as owner@demo.local / {DEMO_PASSWORD} "
            f"(also steward@, analyst@, researcher@, viewer@demo.local). Platform admin host: {settings.PUBLIC_DOMAIN}."
        )
