"""Writes for grants and teams. Each change is audited in its own transaction; guardian rows follow the grants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from access import permissions
from access.levels import Level, level_at_least
from access.models import Grant, Team, TeamMember
from access.selectors import (
    dataset_explain_for_user,
    dataset_level_for_user,
    identifying_allowed,
    live_q,
    team_member_user_ids,
)
from audit.services import audit_event_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from datasets.models import Dataset, Study
from tenants.models import Tenant
from tenants.role_checks import membership_get, role_require
from tenants.roles import Role

GRANTABLE_ROLES = (Role.ANALYST,)
REASON_MAX = 2000


def _grant_details(grant: Grant) -> dict[str, Any]:
    return {
        "study": grant.study.slug,
        "dataset": grant.dataset.name if grant.dataset_id and grant.dataset else None,
        "user": getattr(grant.user, "email", None) if grant.user_id else None,
        "team": grant.team.slug if grant.team_id and grant.team else None,
        "role": grant.role or None,
        "level": grant.level,
        "identifying": grant.identifying,
        "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        "source": grant.source,
        "reason": grant.reason,
    }


def grant_manage_require(*, tenant: Tenant, actor: Any, study: Study, dataset: Dataset | None) -> None:
    """Raise unless ``actor`` may manage grants here: steward+ anywhere, manage level on a single dataset."""
    membership = role_require(user=actor, tenant=tenant, minimum=Role.VIEWER, action="manage grants")
    if membership.role in (Role.OWNER, Role.STEWARD):
        return
    if dataset is not None and level_at_least(
        dataset_level_for_user(user=actor, tenant=tenant, dataset=dataset), Level.MANAGE
    ):
        return
    raise Forbidden(
        "Managing access needs the manage level on the dataset (stewards and owners have it everywhere).",
        code="access_level_insufficient",
        details={"needed": Level.MANAGE.value},
    )


def _manage_authority_ends(*, tenant: Tenant, actor: Any, dataset: Dataset) -> datetime | None:
    """When ``actor``'s own manage level on ``dataset`` ends (None: it does not expire)."""
    explanation = dataset_explain_for_user(user=actor, tenant=tenant, dataset=dataset)
    ends = [
        reason.expires_at
        for reason in explanation.reasons
        if reason.active and level_at_least(reason.level, Level.MANAGE)
    ]
    if not ends or any(end is None for end in ends):
        return None
    return max(end for end in ends if end is not None)


def _dataset_manager_limits(
    *,
    tenant: Tenant,
    actor: Any,
    dataset: Dataset | None,
    user: Any,
    team: Team | None,
    identifying: bool,
    expires_at: datetime | None,
) -> None:
    """What a dataset manager who is not a steward may not grant: access to themselves or to a team they are in
    (which would lift their own level or outlive their own grant's expiry), identifying columns they do not hold
    themselves, or access that outlives their own manage grant."""
    if (user is not None and user.pk == actor.pk) or (
        team is not None and TeamMember.objects.filter(team=team, user_id=actor.pk).exists()
    ):
        raise Forbidden(
            "You cannot grant access to yourself or to a team you belong to; ask a data steward.", code="self_grant"
        )
    if identifying and (dataset is None or not identifying_allowed(user=actor, tenant=tenant, dataset=dataset)):
        raise Forbidden(
            "Only stewards, owners and managers who hold the identifying grant may grant identifying columns.",
            code="identifying_not_held",
        )
    ends = _manage_authority_ends(tenant=tenant, actor=actor, dataset=dataset) if dataset is not None else None
    if ends is not None and (expires_at is None or expires_at > ends):
        raise InvalidInput(
            f"Your own manage access ends {ends:%Y-%m-%d %H:%M} UTC; grants you make must expire by then.",
            code="expiry_beyond_own_grant",
            details={"latest_expiry": ends.isoformat()},
        )


def _study_sync(study: Study) -> None:
    live = Grant.objects.filter(study=study).filter(live_q()).filter(role="").select_related("team")
    permissions.study_permissions_sync(study=study, live_grants=list(live))


def dataset_grants_mirror(*, dataset: Dataset) -> None:
    """Mirror the study's live study-wide grants onto a newly registered dataset's guardian rows.

    Called once by the dataset registration service, inside its transaction. Enforcement reads grants, not this
    mirror, so a study-wide grant covers the new dataset at once either way."""
    live = Grant.objects.filter(study_id=dataset.study_id, dataset__isnull=True, role="").filter(live_q())
    permissions.dataset_permissions_mirror(dataset=dataset, live_grants=list(live.select_related("team")))


def grant_create(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    dataset: Dataset | None = None,
    user: Any = None,
    team: Team | None = None,
    role: str = "",
    level: str | Level,
    identifying: bool = False,
    expires_at: datetime | None = None,
    reason: str = "",
    source: str = "direct",
    request: HttpRequest | None = None,
) -> Grant:
    """Grant ``level`` on ``dataset`` (or every dataset of ``study``) to a member, a team or a role (audited)."""
    grant_manage_require(tenant=tenant, actor=actor, study=study, dataset=dataset)
    if dataset is not None and dataset.study_id != study.pk:
        raise NotFound("No such dataset.")
    try:
        level = Level(level)
    except ValueError as exc:
        choices = ", ".join(level.value for level in Level)
        raise InvalidInput(f"Unknown level {level!r}; use one of {choices}.", code="invalid_level") from exc
    if sum(1 for grantee in (user, team, role) if grantee) != 1:
        raise InvalidInput("Name exactly one grantee: a member, a team or a role.", code="invalid_grantee")
    if role and role not in GRANTABLE_ROLES:
        raise InvalidInput(
            "Study defaults apply to analysts only (owners and stewards manage everything, viewers see metadata).",
            code="invalid_role",
        )
    if user is not None:
        membership = membership_get(user=user, tenant=tenant)
        if membership is None:
            raise NotFound("No such member.")
        if membership.role == Role.VIEWER:
            raise InvalidInput(
                "Viewers see catalog metadata only and cannot be granted a level; change their role first.",
                code="grantee_is_viewer",
            )
    if identifying and not level_at_least(level, Level.QUERY):
        raise InvalidInput(
            "Identifying columns can only be granted with the query level or above.", code="invalid_identifying"
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", code="invalid_expiry")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"The reason may have at most {REASON_MAX} characters.", code="invalid_reason")
    membership = membership_get(user=actor, tenant=tenant)
    if level == Level.MANAGE and (membership is None or membership.role not in (Role.OWNER, Role.STEWARD)):
        raise Forbidden("Only stewards and owners may grant the manage level.", code="role_insufficient")
    if role and (membership is None or membership.role not in (Role.OWNER, Role.STEWARD)):
        raise Forbidden("Only stewards and owners may set study defaults.", code="role_insufficient")
    if membership is None or membership.role not in (Role.OWNER, Role.STEWARD):
        _dataset_manager_limits(
            tenant=tenant,
            actor=actor,
            dataset=dataset,
            user=user,
            team=team,
            identifying=identifying,
            expires_at=expires_at,
        )
    with transaction.atomic():
        grant = Grant.objects.create(
            study=study,
            dataset=dataset,
            user=user,
            team=team,
            role=role,
            level=level.value,
            identifying=identifying,
            expires_at=expires_at,
            reason=reason,
            source=source if not role else "study_default",
            granted_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_event_record(
            action="grant.created", actor=actor, request=request, target=grant, details=_grant_details(grant)
        )
        if not role:
            _study_sync(study)
    return grant


def grant_revoke(*, tenant: Tenant, actor: Any, grant: Grant, request: HttpRequest | None = None) -> None:
    """Revoke a grant now (audited); its history stays."""
    grant_manage_require(tenant=tenant, actor=actor, study=grant.study, dataset=grant.dataset)
    with transaction.atomic():
        locked = Grant.objects.select_for_update().get(pk=grant.pk)
        if locked.revoked_at is not None:
            raise Conflict("The grant is already revoked.", code="grant_revoked")
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor if getattr(actor, "pk", None) else None
        locked.save(update_fields=["revoked_at", "revoked_by"])
        grant.revoked_at, grant.revoked_by = locked.revoked_at, locked.revoked_by
        audit_event_record(
            action="grant.revoked", actor=actor, request=request, target=locked, details=_grant_details(locked)
        )
        if not locked.role:
            _study_sync(locked.study)


def grants_expire() -> int:
    """Record every grant of the current schema that has expired (audited once each); returns how many."""
    now = timezone.now()
    count = 0
    studies: set[int] = set()
    pending = Grant.objects.filter(revoked_at__isnull=True, expires_at__lte=now, expiry_recorded_at__isnull=True)
    for grant_id in list(pending.values_list("pk", flat=True)):
        with transaction.atomic():
            grant = (
                Grant.objects.select_for_update(of=("self",))
                .select_related("study", "dataset", "team", "user")
                .filter(pk=grant_id, expiry_recorded_at__isnull=True)
                .first()
            )
            if grant is None:
                continue
            grant.expiry_recorded_at = now
            grant.save(update_fields=["expiry_recorded_at"])
            audit_event_record(action="grant.expired", target=grant, details=_grant_details(grant))
            studies.add(grant.study_id)
            count += 1
    for study in Study.objects.filter(pk__in=studies):
        with transaction.atomic():
            _study_sync(study)
    return count


# --- Teams ---------------------------------------------------------------------------------------------------


def _team_details(team: Team) -> dict[str, Any]:
    return {"team": team.slug, "name": team.name}


def _group_name(slug: str) -> str:
    return f"{connection.schema_name}:team:{slug}"  # type: ignore[attr-defined]


def team_create(
    *,
    tenant: Tenant,
    actor: Any,
    name: str,
    slug: str = "",
    description: str = "",
    request: HttpRequest | None = None,
) -> Team:
    """Create a team (steward+; audited)."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="manage teams")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("Give the team a name of 1-100 characters.", code="invalid_name")
    slug = (slug or slugify(name))[:63]
    if not slug or slug != slugify(slug):
        raise InvalidInput("Use lower-case letters, digits and hyphens for the team's slug.", code="invalid_slug")
    if Team.objects.filter(slug=slug).exists():
        raise Conflict(f"A team {slug!r} exists already.", code="team_exists")
    with transaction.atomic():
        team = Team.objects.create(
            name=name, slug=slug, description=description, created_by=actor if getattr(actor, "pk", None) else None
        )
        team.group = permissions.team_group_create(name=_group_name(slug))
        team.save(update_fields=["group"])
        audit_event_record(
            action="team.created", actor=actor, request=request, target=team, details=_team_details(team)
        )
    return team


def team_update(
    *,
    tenant: Tenant,
    actor: Any,
    team: Team,
    name: str | None = None,
    description: str | None = None,
    request: HttpRequest | None = None,
) -> Team:
    """Rename a team or change its description (steward+; audited)."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="manage teams")
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("Give the team a name of 1-100 characters.", code="invalid_name")
        team.name = name
    if description is not None:
        team.description = description
    with transaction.atomic():
        team.save()
        audit_event_record(
            action="team.updated", actor=actor, request=request, target=team, details=_team_details(team)
        )
    return team


def team_delete(*, tenant: Tenant, actor: Any, team: Team, request: HttpRequest | None = None) -> None:
    """Delete a team; its grants go with it (steward+; audited). Each live grant of the team is recorded as
    revoked first (``grant.revoked``, ``details.reason`` ``team_deleted``): the trail never shows a grant that was
    created and never ended."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="manage teams")
    studies = list(Study.objects.filter(grants__team=team).distinct())
    with transaction.atomic():
        now = timezone.now()
        live = Grant.objects.select_for_update(of=("self",)).filter(team=team).filter(live_q(now))
        for grant in live.select_related("study", "dataset", "team").order_by("pk"):
            grant.revoked_at, grant.revoked_by = now, actor if getattr(actor, "pk", None) else None
            grant.save(update_fields=["revoked_at", "revoked_by"])
            audit_event_record(
                action="grant.revoked",
                actor=actor,
                request=request,
                target=grant,
                details={**_grant_details(grant), "reason": "team_deleted"},
            )
        audit_event_record(
            action="team.deleted", actor=actor, request=request, target=team, details=_team_details(team)
        )
        group = team.group
        team.delete()
        if group is not None:
            group.delete()
        for study in studies:
            _study_sync(study)


def team_member_add(
    *, tenant: Tenant, actor: Any, team: Team, user: Any, request: HttpRequest | None = None
) -> TeamMember:
    """Add a workspace member to a team (steward+; audited)."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="manage teams")
    if membership_get(user=user, tenant=tenant) is None:
        raise NotFound("No such member.")
    if TeamMember.objects.filter(team=team, user_id=user.pk).exists():
        raise Conflict(f"{user.email} is already in the team.", code="team_member_exists")
    with transaction.atomic():
        member = TeamMember.objects.create(team=team, user=user, added_by=actor if getattr(actor, "pk", None) else None)
        if team.group is not None:
            permissions.team_group_members_set(group=team.group, user_ids=team_member_user_ids(team=team))
        audit_event_record(
            action="team.member_added",
            actor=actor,
            request=request,
            target=team,
            details={**_team_details(team), "user": user.email},
        )
    return member


def team_member_remove(
    *, tenant: Tenant, actor: Any, team: Team, user: Any, request: HttpRequest | None = None
) -> None:
    """Remove a member from a team (steward+; audited)."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="manage teams")
    member = TeamMember.objects.filter(team=team, user_id=user.pk).first()
    if member is None:
        raise NotFound("No such team member.")
    with transaction.atomic():
        member.delete()
        if team.group is not None:
            permissions.team_group_members_set(group=team.group, user_ids=team_member_user_ids(team=team))
        audit_event_record(
            action="team.member_removed",
            actor=actor,
            request=request,
            target=team,
            details={**_team_details(team), "user": user.email},
        )
