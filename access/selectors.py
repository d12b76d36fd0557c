"""Reads for access levels, grants and teams. Levels are computed from live grants at the moment of use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from access.levels import LEVEL_RANK, Level, level_at_least, level_max
from access.models import Grant, Team, TeamMember
from core.config import config_get
from core.errors import NotFound
from datasets.models import Dataset, Study
from datasets.study_origins import StudyOrigin, study_origin, withdrawn_error
from tenants.models import Tenant
from tenants.role_checks import level_cap_for, membership_for
from tenants.roles import Role


@dataclass(frozen=True)
class Reason:
    """One reason contributing to (or, when inactive, no longer contributing to) a member's level."""

    source: str  # role | tenant_default | study_default | direct | team | access_request | token_scope | contribution
    level: Level
    expires_at: datetime | None = None
    grant_id: int | None = None
    detail: str = ""
    active: bool = True
    identifying: bool = False

    @property
    def source_text(self) -> str:
        """The source in words (the console's Explain page)."""
        return SOURCE_WORDS.get(self.source, self.source)


SOURCE_WORDS = {
    "role": "Their role in the workspace",
    "tenant_default": "The workspace's default for their role",
    "study_default": "The study's default for their role",
    "direct": "A grant to them personally",
    "team": "A grant to one of their teams",
    "access_request": "An access request that was approved",
}


@dataclass(frozen=True)
class Explanation:
    """A member's effective level on one dataset and every reason for it."""

    level: Level | None
    identifying: bool = False
    role: str | None = None
    reasons: list[Reason] = field(default_factory=list)


def live_q(now: datetime | None = None) -> Q:
    """Grants that count right now: not revoked, not expired."""
    moment = now or timezone.now()
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=moment))


def _applicable_grants(*, user: Any, role: str, study: Study) -> QuerySet[Grant]:
    """Every grant of ``study`` that names the user, one of their teams, or their role (live or not)."""
    teams = TeamMember.objects.filter(user_id=user.pk).values("team_id")
    return (
        Grant.objects.filter(study=study)
        .filter(Q(user_id=user.pk) | Q(team_id__in=teams) | Q(role=role))
        .select_related("team")
        .order_by("created_at", "pk")
    )


def _grant_source(grant: Grant) -> str:
    if grant.role:
        return "study_default"
    if grant.team_id:
        return "team"
    if grant.source.startswith("access_request"):
        return "access_request"
    return "direct"


def _grant_detail(grant: Grant) -> str:
    scope = f"dataset {grant.dataset.name}" if grant.dataset_id and grant.dataset else "every dataset of the study"
    if grant.role:
        who = f"every {grant.role}"
    elif grant.team_id:
        who = f"team {grant.team.slug}" if grant.team else "a team"
    else:
        who = "this member"
    text = f"{grant.level} on {scope} for {who}"
    if grant.reason:
        text += f" ({grant.reason})"
    return text


def _explain_one(*, role: str, dataset: Dataset, grants: Iterable[Grant], tenant: Tenant, now: datetime) -> Explanation:
    """The level of a member with ``role`` on ``dataset`` given the study's applicable grants."""
    if role in (Role.OWNER, Role.STEWARD):
        return Explanation(
            level=Level.MANAGE,
            identifying=True,
            role=role,
            reasons=[Reason("role", Level.MANAGE, detail=f"{role}s manage every dataset", identifying=True)],
        )
    if role == Role.VIEWER:
        return Explanation(
            level=Level.METADATA,
            role=role,
            reasons=[Reason("role", Level.METADATA, detail="viewers see catalog metadata only; grants do not apply")],
        )
    reasons: list[Reason] = []
    relevant = [g for g in grants if g.dataset_id in (None, dataset.pk)]
    live = [g for g in relevant if g.is_live(now)]
    # Study default for the role: a dataset-specific role grant beats a study-wide one; newest wins.
    role_grants = [g for g in live if g.role == role]
    specific = [g for g in role_grants if g.dataset_id == dataset.pk]
    candidates: list[Grant] = specific or [g for g in role_grants if g.dataset_id is None]
    chosen = candidates[-1] if candidates else None
    if chosen is not None:
        base = Level(chosen.level)
        base_identifying = chosen.identifying
    else:
        base = Level(str(config_get("analyst_default_level", tenant)))
        base_identifying = False
        reasons.append(Reason("tenant_default", base, detail=f"workspace default for every {role}"))
    levels: list[Level | None] = [base]
    identifying = base_identifying
    for grant in relevant:
        active = grant.is_live(now)
        is_role = bool(grant.role)
        counted = active and (not is_role or grant is chosen)
        detail = _grant_detail(grant)
        if not active:
            detail += " — revoked" if grant.revoked_at else " — expired"
        elif is_role and grant is not chosen:
            detail += " — superseded by a more specific or newer study default"
        reasons.append(
            Reason(
                _grant_source(grant),
                Level(grant.level),
                expires_at=grant.expires_at,
                grant_id=grant.pk,
                detail=detail,
                active=counted,
                identifying=grant.identifying,
            )
        )
        if counted and not is_role:
            levels.append(Level(grant.level))
            identifying = identifying or grant.identifying
    level = level_max(*levels) or Level.METADATA
    return Explanation(
        level=level,
        identifying=identifying and level_at_least(level, Level.QUERY),
        role=role,
        reasons=reasons,
    )


def _token_capped(explanation: Explanation, user: Any) -> Explanation:
    """The explanation under the cap of the caller's token scope (a ``count`` token makes every level at most
    ``count``; tenants/token_scopes.py). Without a token, or with a full one, it is unchanged."""
    cap = level_cap_for(user)
    if cap is None or explanation.level is None or level_at_least(Level(cap), explanation.level):
        return explanation
    level = Level(cap)
    return Explanation(
        level=level,
        identifying=explanation.identifying and level_at_least(level, Level.QUERY),
        role=explanation.role,
        reasons=[*explanation.reasons, Reason("token_scope", level, detail=f"this request's token is capped at {cap}")],
    )


def _origin_capped(explanation: Explanation, user: Any, origin: StudyOrigin | None) -> Explanation:
    """The explanation under the ceiling of the workspace that contributed the study (unchanged for an own study);
    a withdrawn contribution refuses every use (403 ``contribution_withdrawn``)."""
    if origin is None or explanation.level is None:
        return explanation
    if not origin.active:
        raise withdrawn_error()
    cap = Level(origin.ceiling_for(getattr(user, "pk", None)))
    if level_at_least(cap, explanation.level):
        return explanation
    return Explanation(
        level=cap,
        identifying=explanation.identifying and level_at_least(cap, Level.QUERY),
        role=explanation.role,
        reasons=[
            *explanation.reasons,
            Reason("contribution", cap, detail=f"{origin.tenant_name} shares this study up to the {cap.value} level"),
        ],
    )


def _member_role(user: Any, tenant: Tenant) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    membership = membership_for(user=user, tenant=tenant)
    return membership.role if membership is not None else None


def datasets_explain_for_user(
    *, user: Any, tenant: Tenant, study: Study, datasets: Sequence[Dataset] | None = None
) -> dict[str, Explanation]:
    """Explanations for every dataset of ``study`` (two queries; empty for non-members). ``datasets``: the study's
    live datasets when the caller has already read them (this request, same study), saving one query."""
    role = _member_role(user, tenant)
    if role is None:
        return {}
    if datasets is None:
        datasets = list(Dataset.objects.filter(study=study).order_by("name"))
    elif any(dataset.study_id != study.pk for dataset in datasets):
        raise ValueError("datasets of another study")
    grants = list(_applicable_grants(user=user, role=role, study=study).select_related("dataset"))
    now = timezone.now()
    origin = study_origin(study)
    return {
        dataset.name: _origin_capped(
            _token_capped(_explain_one(role=role, dataset=dataset, grants=grants, tenant=tenant, now=now), user),
            user,
            origin,
        )
        for dataset in datasets
    }


def datasets_levels_for_user(*, user: Any, tenant: Tenant, study: Study) -> dict[str, Level]:
    """The caller's effective level on every dataset of ``study``, by dataset name (empty for non-members)."""
    return {
        name: explanation.level
        for name, explanation in datasets_explain_for_user(user=user, tenant=tenant, study=study).items()
        if explanation.level is not None
    }


def dataset_explain_for_user(*, user: Any, tenant: Tenant, dataset: Dataset) -> Explanation:
    """Why ``user`` has the level they have on ``dataset`` (level None for non-members)."""
    role = _member_role(user, tenant)
    if role is None:
        return Explanation(level=None)
    grants = list(_applicable_grants(user=user, role=role, study=dataset.study).select_related("dataset"))
    return _origin_capped(
        _token_capped(_explain_one(role=role, dataset=dataset, grants=grants, tenant=tenant, now=timezone.now()), user),
        user,
        study_origin(dataset.study),
    )


def dataset_level_for_user(*, user: Any, tenant: Tenant, dataset: Dataset) -> Level | None:
    """The caller's effective level on ``dataset`` now (None for non-members); expiry is checked here."""
    return dataset_explain_for_user(user=user, tenant=tenant, dataset=dataset).level


def identifying_allowed(*, user: Any, tenant: Tenant, dataset: Dataset) -> bool:
    """True when the caller may use ``dataset``'s identifying columns (query level + an identifying grant)."""
    return dataset_explain_for_user(user=user, tenant=tenant, dataset=dataset).identifying


def access_explain(*, user: Any, tenant: Tenant, study: Study, dataset: Dataset) -> Explanation:
    """The effective level of ``user`` on ``dataset`` and every reason (active, expired, revoked, superseded)."""
    if dataset.study_id != study.pk:
        raise NotFound("No such dataset.")
    return dataset_explain_for_user(user=user, tenant=tenant, dataset=dataset)


def grants_for_dataset(*, dataset: Dataset) -> QuerySet[Grant]:
    """Grants on ``dataset`` and study-wide grants of its study (active, expired and revoked), newest first."""
    return (
        Grant.objects.filter(study_id=dataset.study_id)
        .filter(Q(dataset=dataset) | Q(dataset__isnull=True))
        .select_related("study", "dataset", "team", "user", "granted_by", "revoked_by")
        .order_by("-created_at", "-pk")
    )


def grants_for_study(*, study: Study) -> QuerySet[Grant]:
    """Every grant of ``study``, newest first."""
    return (
        Grant.objects.filter(study=study)
        .select_related("study", "dataset", "team", "user", "granted_by", "revoked_by")
        .order_by("-created_at", "-pk")
    )


def grants_for_user(*, user: Any, tenant: Tenant) -> QuerySet[Grant]:
    """Grants that name ``user`` directly or through a team (active, expired and revoked), newest first."""
    teams = TeamMember.objects.filter(user_id=user.pk).values("team_id")
    return (
        Grant.objects.filter(Q(user_id=user.pk) | Q(team_id__in=teams))
        .select_related("study", "dataset", "team", "user", "granted_by", "revoked_by")
        .order_by("-created_at", "-pk")
    )


def grant_get(*, grant_id: int, dataset: Dataset | None = None, study: Study | None = None) -> Grant:
    """One grant (of ``dataset`` / ``study`` when given), or 404."""
    queryset = Grant.objects.select_related("study", "dataset", "team", "user")
    if dataset is not None:
        queryset = queryset.filter(dataset=dataset)
    if study is not None:
        queryset = queryset.filter(study=study)
    grant = queryset.filter(pk=grant_id).first()
    if grant is None:
        raise NotFound("No such grant.")
    return grant


def team_list() -> QuerySet[Team]:
    """The workspace's teams, by name."""
    return Team.objects.order_by("name")


def team_get(*, slug: str) -> Team:
    """One team by slug, or 404."""
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise NotFound("No such team.")
    return team


def team_member_user_ids(*, team: Team) -> list[int]:
    """The user ids of a team's members."""
    return list(TeamMember.objects.filter(team=team).values_list("user_id", flat=True))


def level_rank(level: str | Level) -> int:
    """Numeric rank of a level (for ordering in templates and SQL annotations)."""
    return LEVEL_RANK[str(level)]
