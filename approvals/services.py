"""Writes for data-use agreements and access requests (create, decide, withdraw, renew). All audited.

An approval creates one ``access.Grant`` per requested dataset through ``access.services.grant_create`` (source
``access_request:<id>``), so the enforcement path sees it like any other grant; expiry is checked at use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from access.levels import Level, level_at_least
from access.models import Grant
from access.selectors import datasets_levels_for_user, live_q
from access.services import grant_create, grant_revoke
from approvals.models import AccessRequest, DataUseAgreement, RequestStatus
from approvals.notifications import notification_send, request_notifications_settle, stewards_of
from approvals.selectors import demographics_gap
from audit.services import audit_event_record
from core.errors import Conflict, Forbidden, InvalidInput
from datasets.models import Dataset, Study
from datasets.study_origins import study_origin, study_writable_require
from tenants.models import Tenant
from tenants.role_checks import membership_get, role_require
from tenants.roles import Role

REQUESTABLE_LEVELS: tuple[Level, ...] = (Level.COUNT, Level.QUERY, Level.EXPORT)
PURPOSE_MAX = 5000
REASON_MAX = 2000
TERMS_MAX = 100_000
MY_REQUESTS_LINK = "/access/requests/"
QUEUE_LINK = "/console/requests/"


def dua_current(*, study: Study) -> DataUseAgreement | None:
    """The study's newest terms of use (None when it has none)."""
    return DataUseAgreement.objects.filter(study=study).order_by("-version").first()


def dua_create(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    text: str,
    request: HttpRequest | None = None,
    from_contribution: bool = False,
) -> DataUseAgreement:
    """Publish a new version of a study's terms (steward or owner); it supersedes the previous one.

    A contributed study's terms are refused (403 ``contributed_study_read_only``), except when ``from_contribution``:
    sharing installs the contributor's terms while it accepts the contribution (never set from a request)."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="edit a study's terms of use")
    if not from_contribution:
        study_writable_require(
            study, refused="its terms of use are the ones it was contributed under and cannot be replaced here"
        )
    text = text.strip()
    if not text:
        raise InvalidInput("The terms of use cannot be empty.", code="invalid_terms")
    if len(text) > TERMS_MAX:
        raise InvalidInput(f"The terms may have at most {TERMS_MAX} characters.", code="invalid_terms")
    with transaction.atomic():
        Study.objects.select_for_update().filter(pk=study.pk).first()  # serialize version numbers per study
        current = dua_current(study=study)
        if current is not None and current.text == text:
            raise Conflict("These terms are identical to the current version.", code="terms_unchanged")
        dua = DataUseAgreement.objects.create(
            study=study, version=(current.version + 1) if current else 1, text=text, created_by=actor
        )
        audit_event_record(
            action="dua.created",
            actor=actor,
            request=request,
            target=dua,
            details={"study": study.slug, "version": dua.version},
        )
    return dua


def _level(value: str) -> Level:
    try:
        level = Level(value)
    except ValueError:
        level = None
    if level not in REQUESTABLE_LEVELS:
        choices = ", ".join(str(choice.value) for choice in REQUESTABLE_LEVELS)
        raise InvalidInput(f"Unknown or unrequestable level {value!r}; request one of {choices}.", code="invalid_level")
    return level  # type: ignore[return-value]


def _datasets(study: Study, names: Sequence[str]) -> list[Dataset]:
    wanted = list(dict.fromkeys(name.strip() for name in names if isinstance(name, str)))
    if not wanted:
        raise InvalidInput("Name at least one dataset of the study.", code="invalid_datasets")
    found = {d.name: d for d in Dataset.objects.filter(study=study, name__in=wanted)}
    unknown = [name for name in wanted if name not in found]
    if unknown:
        raise InvalidInput(
            f"The study has no dataset named {', '.join(repr(n) for n in unknown)}.",
            code="unknown_dataset",
            details={"unknown": unknown},
        )
    return [found[name] for name in wanted]


def _ceiling_check(*, study: Study, actor: Any, level: Level) -> None:
    """A contributed study's stewards decide up to the contributor's ceiling; beyond it, the contributing lab does
    (for that person only): such a request is refused here with where to send it."""
    origin = study_origin(study)
    if origin is None or level_at_least(origin.ceiling_for(actor.pk), level):
        return
    raise InvalidInput(
        f"{origin.tenant_name} shares this study up to the {origin.ceiling} level. Ask {origin.tenant_name} for more: "
        f"POST /api/v1/contributions/{origin.contribution_id}/requests.",
        code="beyond_ceiling",
        details={"ceiling": origin.ceiling, "contribution": origin.contribution_id},
    )


def request_details(access_request: AccessRequest, **extra: Any) -> dict[str, Any]:
    """What the audit events of a request record about it."""
    return {
        "study": access_request.study.slug,
        "datasets": sorted(d.name for d in access_request.datasets.all()),
        "level": access_request.level,
        "requester": getattr(access_request.requester, "email", ""),
        **extra,
    }


def access_request_create(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    datasets: Sequence[str],
    level: str,
    purpose: str,
    accept_terms: bool,
    renewal_of: AccessRequest | None = None,
    include_demographics: bool = False,
    request: HttpRequest | None = None,
) -> AccessRequest:
    """Ask for ``level`` on datasets of ``study`` for a purpose, accepting the study's current terms if it has any.

    Analysts request; viewers may not (their role caps them at metadata), stewards and owners manage everything.
    With ``include_demographics``, the study's demographics table is added when the requester would otherwise
    lack ``level`` on it (every query starts from it, so the access would not be usable without it).
    """
    membership = role_require(user=actor, tenant=tenant, minimum=Role.VIEWER, action="request access")
    if membership.role == Role.VIEWER:
        raise Forbidden(
            "Viewers see catalog metadata only; ask an owner or steward for the analyst role first.",
            code="role_insufficient",
        )
    if membership.role in (Role.OWNER, Role.STEWARD):
        raise Conflict("Stewards and owners already manage every dataset.", code="already_has_access")
    wanted_level = _level(level)
    _ceiling_check(study=study, actor=actor, level=wanted_level)
    chosen = _datasets(study, datasets)
    if include_demographics and study.demographics is not None:
        gap = demographics_gap(
            user=actor, tenant=tenant, study=study, datasets=[d.name for d in chosen], level=wanted_level.value
        )
        if gap is not None:
            chosen.append(study.demographics)
    purpose = purpose.strip()
    if not purpose:
        raise InvalidInput("Describe the purpose of your request.", code="invalid_purpose")
    if len(purpose) > PURPOSE_MAX:
        raise InvalidInput(f"The purpose may have at most {PURPOSE_MAX} characters.", code="invalid_purpose")
    dua = dua_current(study=study)
    if dua is not None and accept_terms is not True:
        raise InvalidInput(
            f"Accept the study's terms of use (version {dua.version}) to request access.",
            code="terms_not_accepted",
            details={"terms_version": dua.version},
        )
    if renewal_of is None:
        levels = datasets_levels_for_user(user=actor, tenant=tenant, study=study)
        if all(level_at_least(levels.get(d.name), wanted_level) for d in chosen):
            raise Conflict(
                f"You already have {wanted_level.value} (or more) on every dataset you named.",
                code="already_has_access",
            )
    pending = AccessRequest.objects.filter(
        requester_id=actor.pk, study=study, status=RequestStatus.PENDING, datasets__in=chosen
    ).first()
    if pending is not None:
        raise Conflict(
            f"Request #{pending.pk} for some of these datasets is still pending; withdraw it or wait for a decision.",
            code="request_pending",
            details={"request": pending.pk},
        )
    with transaction.atomic():
        access_request = AccessRequest.objects.create(
            requester=actor,
            study=study,
            level=wanted_level.value,
            purpose=purpose,
            dua=dua,
            accepted_at=timezone.now() if dua is not None else None,
            renewal_of=renewal_of,
        )
        access_request.datasets.set(chosen)
        audit_event_record(
            action="access_request.created",
            actor=actor,
            request=request,
            target=access_request,
            details=request_details(
                access_request,
                terms_version=dua.version if dua else None,
                renewal_of=renewal_of.pk if renewal_of else None,
            ),
        )
        kind = "renewal" if renewal_of else "request"
        notification_send(
            tenant=tenant,
            users=stewards_of(tenant),
            kind="access_request.created",
            text=f"{actor.email} asks for {wanted_level.value} on {study.name} ({kind} #{access_request.pk}).",
            link=QUEUE_LINK,
            request=request,
        )
    return access_request


def _pending_locked(access_request: AccessRequest) -> AccessRequest:
    locked = AccessRequest.objects.select_for_update().select_related("study").get(pk=access_request.pk)
    if locked.status != RequestStatus.PENDING:
        raise Conflict(f"Request #{locked.pk} is already {locked.status}.", code="already_decided")
    return locked


def access_request_decide(
    *,
    tenant: Tenant,
    actor: Any,
    access_request: AccessRequest,
    decision: str,
    level: str | None = None,
    expires_at: datetime | None = None,
    reason: str = "",
    include_demographics: bool = False,
    request: HttpRequest | None = None,
) -> AccessRequest:
    """Approve (possibly at a lower level or with an expiry) or deny (with a reason) a pending request.

    Steward or owner. An approval creates the grants; the requester is notified in-app and by e-mail. With
    ``include_demographics``, an approval also grants the study's demographics table at the granted level when the
    requester would otherwise lack it (the table joins the request, so a renewal keeps it).
    """
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="decide access requests")
    if decision not in ("approve", "deny"):
        raise InvalidInput("The decision is approve or deny.", code="invalid_decision")
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"The reason may have at most {REASON_MAX} characters.", code="invalid_reason")
    if decision == "deny" and not reason:
        raise InvalidInput("Give the requester a reason for the denial.", code="reason_required")
    granted = None
    if decision == "approve":
        granted = _level(level) if level else Level(access_request.level)
        if not level_at_least(access_request.level, granted):
            raise InvalidInput(
                f"You can approve at most the requested level ({access_request.level}).", code="invalid_level"
            )
        if expires_at is not None and expires_at <= timezone.now():
            raise InvalidInput("The expiry must be in the future.", code="invalid_expiry")
    with transaction.atomic():
        if granted is not None and membership_get(user=access_request.requester, tenant=tenant) is None:
            # Said before "already decided": the request of someone who left was withdrawn with them.
            raise Conflict("The requester is no longer a member of this workspace.", code="requester_not_member")
        locked = _pending_locked(access_request)
        requester = locked.requester
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_reason = reason
        if granted is None:
            locked.status = RequestStatus.DENIED
            locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
            audit_event_record(
                action="access_request.denied",
                actor=actor,
                request=request,
                target=locked,
                details=request_details(locked),
            )
            text = f"Your request #{locked.pk} for {locked.level} on {locked.study.name} was denied: {reason}"
        else:
            datasets = list(locked.datasets.all())
            if not datasets:
                raise Conflict("The requested datasets no longer exist.", code="datasets_gone")
            added = None
            if include_demographics and locked.study.demographics is not None:
                gap = demographics_gap(
                    user=requester,
                    tenant=tenant,
                    study=locked.study,
                    datasets=[d.name for d in datasets],
                    level=granted.value,
                )
                if gap is not None:
                    added = locked.study.demographics
                    datasets.append(added)
                    locked.datasets.add(added)
            grant_reason = f"Access request #{locked.pk}: {locked.purpose[:300]}"
            if reason:
                grant_reason += f" — {reason}"
            for dataset in datasets:
                grant_create(
                    tenant=tenant,
                    actor=actor,
                    study=locked.study,
                    dataset=dataset,
                    user=requester,
                    level=granted,
                    expires_at=expires_at,
                    reason=grant_reason,
                    source=locked.grant_source,
                    request=request,
                )
            if locked.renewal_of_id:
                _supersede(tenant=tenant, actor=actor, previous=locked.renewal_of, request=request)  # type: ignore[arg-type]
            locked.status = RequestStatus.APPROVED
            locked.granted_level = granted.value
            locked.granted_expires_at = expires_at
            locked.save(
                update_fields=[
                    "status",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                    "granted_level",
                    "granted_expires_at",
                ]
            )
            audit_event_record(
                action="access_request.approved",
                actor=actor,
                request=request,
                target=locked,
                details=request_details(
                    locked,
                    granted_level=granted.value,
                    expires_at=expires_at.isoformat() if expires_at else None,
                    demographics_added=added.name if added else None,
                ),
            )
            until = f" until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
            text = f"Your request #{locked.pk} was approved: {granted.value} on {locked.study.name}{until}."
            if added is not None:
                text += f" The demographics table {added.name} was included, as every query starts from it."
        request_notifications_settle(request_id=locked.pk)
        notification_send(
            tenant=tenant,
            users=[requester],
            kind=f"access_request.{locked.status}",
            text=text,
            link=MY_REQUESTS_LINK,
            request=request,
        )
    return locked


def _supersede(*, tenant: Tenant, actor: Any, previous: AccessRequest, request: HttpRequest | None) -> None:
    """An approved renewal replaces the grants of the request it renews."""
    for grant in Grant.objects.filter(source=previous.grant_source).filter(live_q()).select_related("study", "dataset"):
        grant_revoke(tenant=tenant, actor=actor, grant=grant, request=request)


def access_request_withdraw(
    *, tenant: Tenant, actor: Any, access_request: AccessRequest, request: HttpRequest | None = None
) -> AccessRequest:
    """The requester withdraws their pending request."""
    if access_request.requester_id != actor.pk:
        raise Forbidden("Only the requester may withdraw a request.", code="not_requester")
    with transaction.atomic():
        locked = _pending_locked(access_request)
        request_withdrawn(locked, actor=actor, request=request)
    return locked


def request_withdrawn(locked: AccessRequest, *, actor: Any, request: HttpRequest | None = None, **extra: Any) -> None:
    """Mark a pending request (its row locked) withdrawn, settle its notifications and audit it (``extra`` goes
    into the event's details, e.g. ``reason``)."""
    locked.status = RequestStatus.WITHDRAWN
    locked.save(update_fields=["status"])
    request_notifications_settle(request_id=locked.pk)
    audit_event_record(
        action="access_request.withdrawn",
        actor=actor,
        request=request,
        target=locked,
        details=request_details(locked, **extra),
    )


def access_request_renew(
    *,
    tenant: Tenant,
    actor: Any,
    access_request: AccessRequest,
    accept_terms: bool,
    purpose: str | None = None,
    request: HttpRequest | None = None,
) -> AccessRequest:
    """Ask again for the access an approved request gave, before it expires (a new request linked to the old)."""
    if access_request.requester_id != actor.pk:
        raise Forbidden("Only the requester may renew a request.", code="not_requester")
    if access_request.effective_status != RequestStatus.APPROVED:
        raise Conflict(
            f"Only approved, unexpired requests can be renewed (this one is {access_request.effective_status}); "
            "send a new request instead.",
            code="not_renewable",
        )
    if access_request.renewals.filter(status=RequestStatus.PENDING).exists():  # type: ignore[attr-defined]
        raise Conflict("A renewal of this request is already pending.", code="request_pending")
    return access_request_create(
        tenant=tenant,
        actor=actor,
        study=access_request.study,
        datasets=[d.name for d in access_request.datasets.all()],
        level=access_request.granted_level or access_request.level,
        purpose=purpose if purpose and purpose.strip() else access_request.purpose,
        accept_terms=accept_terms,
        renewal_of=access_request,
        request=request,
    )
