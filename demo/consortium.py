"""The demo consortium: a consortium workspace the demo lab shares its study into, with harmonized variables.

So a newcomer sees sharing work end to end: the lab's steward offers ``demo-study`` (by reference, up to the query
level, with the lab's terms), the consortium's steward accepts it as ``demo-lab-study`` and maps three harmonized
variables onto it; consortium analysts get counts by default. Every step goes through the services (the sharing
rules, the audit trail); a step already done is skipped, so seeding again adds nothing.
"""

from __future__ import annotations

from typing import IO, Any

from django_tenants.utils import tenant_context

from access.levels import Level
from access.models import Grant
from access.services import grant_create
from datasets.models import Study
from datasets.services import study_update
from demo.governance import DEMO_TERMS
from demo.study import DEMO_STUDY
from harmonization.models import HarmonizedVariable
from harmonization.services import variable_save
from sharing.models import Contribution, ContributionStatus
from sharing.services import contribution_accept, contribution_offer
from tenants.models import Tenant, WorkspaceKind
from tenants.roles import Role
from tenants.services import membership_set, tenant_create

CONSORTIUM = ("demo-consortium", "Demo Consortium", "consortium.localhost")
SHARED_SLUG = "demo-lab-study"
CEILING = Level.QUERY
DEMO_VARIABLES: list[dict[str, Any]] = [
    {
        "name": "age",
        "type": "number",
        "label": "Age at visit",
        "unit": "years",
        "sources": [{"study": SHARED_SLUG, "dataset": "demographics", "column": "age"}],
    },
    {
        "name": "sex",
        "type": "string",
        "label": "Sex",
        "sources": [
            {
                "study": SHARED_SLUG,
                "dataset": "demographics",
                "column": "sex",
                "recode": {"F": "female", "M": "male"},
            }
        ],
    },
    {
        "name": "working_memory",
        "type": "number",
        "label": "Working memory (standard score)",
        "sources": [{"study": SHARED_SLUG, "dataset": "cognitive", "column": "working_memory"}],
    },
]


def demo_consortium_seed(
    *, lab: Tenant, people: dict[str, Any], stdout: IO[str] | Any, members: list[tuple[str, str]]
) -> Tenant | None:
    """Create the demo consortium, share the lab's demo study into it and map the demo variables (idempotent).

    ``people`` maps e-mail to user; ``members`` are (e-mail, role) of the consortium. Returns the consortium, or
    None when the lab has no demo study to share."""
    with tenant_context(lab):
        study = Study.objects.filter(slug=DEMO_STUDY).first()
    if study is None:
        return None
    slug, name, domain = CONSORTIUM
    consortium = tenant_create(slug=slug, name=name, domain=domain, kind=WorkspaceKind.CONSORTIUM).tenant
    for email, role in members:
        membership_set(tenant=consortium, user=people[email], role=role)
    steward = people["steward@demo.local"]  # the lab's steward, and the consortium's
    contribution = _contribution_seed(lab, consortium, study, steward, steward)
    if contribution.status != ContributionStatus.ACTIVE or contribution.local_study_id is None:
        stdout.write(f"Demo consortium: the demo study's contribution is {contribution.status}; left as it is.\n")
        return consortium
    with tenant_context(consortium):
        shared = Study.objects.get(pk=contribution.local_study_id)
        if not Grant.objects.filter(study=shared, role=Role.ANALYST, dataset__isnull=True, revoked_at__isnull=True):
            grant_create(
                tenant=consortium,
                actor=steward,
                study=shared,
                role=Role.ANALYST,
                level=Level.COUNT,
                reason="Demo: consortium analysts see aggregate counts unless granted more.",
                source="study_default",
            )
        present = set(HarmonizedVariable.objects.values_list("name", flat=True))
        for definition in DEMO_VARIABLES:
            if definition["name"] not in present:
                variable_save(tenant=consortium, actor=steward, payload=definition)
    with tenant_context(lab):  # the lab lists its own study in the platform's public catalog
        study = Study.objects.get(pk=study.pk)
        if not study.discoverable:
            study_update(tenant=lab, actor=steward, study=study, discoverable=True)
    stdout.write(
        f"Demo consortium: http://{domain}:8000/ shares {DEMO_STUDY} from the demo lab as {SHARED_SLUG} "
        f"(ceiling {CEILING}) with variables {', '.join(v['name'] for v in DEMO_VARIABLES)}.\n"
    )
    return consortium


def _contribution_seed(lab: Tenant, consortium: Tenant, study: Study, lab_steward: Any, steward: Any) -> Contribution:
    """The lab's contribution of the demo study, offered by the lab's steward and accepted by the consortium's."""
    contribution = Contribution.objects.filter(lab=lab, consortium=consortium, study_id=study.pk).first()
    if contribution is None:
        with tenant_context(lab):
            contribution = contribution_offer(
                tenant=lab, actor=lab_steward, study=study, consortium=consortium.slug, level=CEILING, terms=DEMO_TERMS
            )
    if contribution.status == ContributionStatus.OFFERED:
        with tenant_context(consortium):
            contribution = contribution_accept(
                tenant=consortium, actor=steward, contribution=contribution, slug=SHARED_SLUG
            )
    return contribution
