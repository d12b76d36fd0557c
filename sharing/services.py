"""Offering, accepting, declining, withdrawing contributions and changing their ceiling; every change audited.

Locks and audit chains are always taken consortium first, then lab (a use in the consortium records in both chains
in that order), so two requests never wait on each other's chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_tenants.utils import schema_context

from access.levels import LEVEL_RANK
from access.models import Grant
from access.permissions import study_permissions_sync
from access.selectors import live_q
from approvals.notifications import notification_send, stewards_of
from approvals.services import dua_create
from audit.services import audit_event_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from datasets.models import STUDY_SLUG_VALIDATOR, Dataset, DatasetVersion, Engine, Study
from datasets.storage import participant_stores_remove
from datasets.study_origins import withdrawn_error
from sharing.mirror import lab_study_read, mirror_create
from sharing.models import SHAREABLE_LEVELS, CeilingRaise, Contribution, ContributionStatus, Follow
from tenants.models import Tenant, User, WorkspaceKind
from tenants.role_checks import membership_get, role_require
from tenants.roles import Role, role_at_least

TERMS_MAX = 20_000
PURPOSE_MAX = 2_000


def _level_clean(level: str) -> str:
    if level not in SHAREABLE_LEVELS:
        raise InvalidInput("The level must be count, query or export.", code="invalid_level")
    return level


def contribution_out(contribution: Contribution) -> dict[str, Any]:
    """The contract's shape of a contribution (the same on both sides)."""
    return {
        "id": contribution.pk,
        "status": contribution.status,
        "study": contribution.study_slug,
        "study_name": contribution.study_name,
        "lab": dict(zip(("tenant", "name"), contribution.lab_shown, strict=True)),
        "consortium": contribution.consortium_shown[0],
        "consortium_name": contribution.consortium_shown[1],
        "datasets": list(contribution.datasets),
        "level": contribution.level,
        "follow": contribution.follow,
        "pinned": dict(contribution.pinned or {}),
        "terms": contribution.terms,
        "local_slug": contribution.local_slug or None,
        "offered_at": contribution.offered_at.isoformat(),
        "decided_at": contribution.decided_at.isoformat() if contribution.decided_at else None,
        "withdrawn_at": contribution.withdrawn_at.isoformat() if contribution.withdrawn_at else None,
    }


def _audit_details(contribution: Contribution) -> dict[str, Any]:
    return {
        "contribution": contribution.pk,
        "study": contribution.study_slug,
        "lab": contribution.lab_shown[0],
        "consortium": contribution.consortium_shown[0],
        "level": contribution.level,
        "status": contribution.status,
    }


def _record(
    contribution: Contribution,
    action: str,
    actor: Any,
    request: HttpRequest | None,
    schema: str,
    reason: str | None = None,
) -> None:
    audit_event_record(
        action=action,
        actor=actor,
        request=request,
        target_type="sharing.contribution",
        target_id=str(contribution.pk),
        target_repr=f"{contribution.study_slug} -> {contribution.consortium_shown[0]}",
        details={**_audit_details(contribution), **({"reason": reason} if reason else {})},
        schema_name=schema,
    )


def contribution_offer(
    *,
    tenant: Tenant,
    actor: Any,
    study: Study,
    consortium: str,
    level: str,
    datasets: list[str] | None = None,
    follow: str = Follow.LATEST,
    terms: str = "",
    request: HttpRequest | None = None,
) -> Contribution:
    """Offer ``study`` of the lab ``tenant`` to ``consortium`` (owner or steward), up to ``level``."""
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action="share studies")
    if tenant.kind != WorkspaceKind.LAB:
        raise Forbidden("Only a lab workspace contributes its studies.", code="not_a_lab")
    level = _level_clean(level)
    if follow not in Follow.values:
        raise InvalidInput("follow must be latest or pinned.", code="invalid_follow")
    terms = (terms or "").strip()
    if len(terms) > TERMS_MAX:
        raise InvalidInput(f"The terms may have at most {TERMS_MAX} characters.", code="invalid_terms")
    target = Tenant.objects.filter(slug=consortium, kind=WorkspaceKind.CONSORTIUM).first()
    if target is None:
        raise InvalidInput("No consortium workspace has this slug.", code="invalid_consortium")
    if study.engine != Engine.DUCKDB:
        raise InvalidInput("Only studies kept as files (the DuckDB engine) can be shared.", code="study_not_shareable")
    if not study.keys_confirmed or study.demographics_id is None:
        raise InvalidInput("Share a study once its keys and demographics are registered.", code="study_not_ready")
    live = {d.name: d for d in Dataset.objects.filter(study=study)}
    wanted = list(dict.fromkeys(datasets)) if datasets else sorted(live)
    unknown = [name for name in wanted if name not in live]
    if unknown:
        raise InvalidInput(
            f"Unknown datasets: {', '.join(unknown)}.", code="unknown_dataset", details={"datasets": unknown}
        )
    demographics = study.demographics.name if study.demographics else None
    names = ([demographics] if demographics else []) + sorted(n for n in wanted if n != demographics)
    pinned: dict[str, int] = {}
    if follow == Follow.PINNED:
        for name in names:
            latest = DatasetVersion.objects.filter(dataset=live[name]).order_by("-number").first()
            if latest is not None:
                pinned[name] = latest.number
    try:
        with transaction.atomic():
            _dead_offers_withdrawn(tenant=tenant, study=study, consortium=target, actor=actor, request=request)
            contribution = Contribution.objects.create(
                lab=tenant,
                lab_slug=tenant.slug,
                lab_name=tenant.name,
                consortium=target,
                consortium_slug=target.slug,
                consortium_name=target.name,
                study_id=study.pk,
                study_slug=study.slug,
                study_name=study.name,
                datasets=names,
                pinned=pinned,
                level=level,
                follow=follow,
                terms=terms,
                offered_by=actor,
            )
            _record(contribution, "contribution.offered", actor, request, tenant.schema_name)
    except IntegrityError as exc:
        raise Conflict(
            "This study is already offered to or shared with that consortium.", code="contribution_exists"
        ) from exc
    return contribution


def _dead_offers_withdrawn(
    *, tenant: Tenant, study: Study, consortium: Tenant, actor: Any, request: HttpRequest | None
) -> None:
    """Withdraw the lab's pending offer of ``study`` to ``consortium`` whose maker can no longer make it (it can no
    longer be accepted, :func:`_offerer_still_may`), so that a new offer can take its place."""
    pending = Contribution.objects.select_for_update(of=("self",)).filter(
        lab=tenant, study_id=study.pk, consortium=consortium, status=ContributionStatus.OFFERED
    )
    for offer in pending:
        if not _offerer_still_may(offer):
            _withdrawn(offer, actor)
            _record(offer, "contribution.withdrawn", actor, request, tenant.schema_name, reason="offerer_gone")


def offers_of_maker_withdrawn(*, lab: Tenant, maker: Any, actor: Any, request: HttpRequest | None, reason: str) -> int:
    """Withdraw the pending offers ``maker`` made for ``lab`` that they could no longer make (they left the lab or
    were lowered below steward), in the transaction that changed their membership: the consortium then sees them
    withdrawn at once instead of an offer it can no longer accept. Audited ``contribution.withdrawn`` with
    ``details.reason`` in the lab's chain (as a lab's own withdrawal is). Returns how many."""
    pending = Contribution.objects.select_for_update(of=("self",)).select_related("lab", "consortium")
    withdrawn = 0
    for offer in pending.filter(lab=lab, offered_by_id=maker.pk, status=ContributionStatus.OFFERED).order_by("pk"):
        if _offerer_still_may(offer):
            continue
        _withdrawn(offer, actor)
        _record(offer, "contribution.withdrawn", actor, request, lab.schema_name, reason=reason)
        withdrawn += 1
    return withdrawn


def _lab(contribution: Contribution) -> Tenant:
    """The contributing lab's workspace (409 ``contribution_closed`` once it was deleted: nothing can reach it)."""
    if contribution.lab is None:
        raise Conflict("The contributing lab has left the platform.", code="contribution_closed")
    return contribution.lab


def _lab_side_require(*, tenant: Tenant, actor: Any, contribution: Contribution, action: str) -> None:
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action=action)
    if contribution.lab_id != tenant.pk:
        raise Forbidden("Only the contributing lab changes a contribution.", code="contributor_only")


def _consortium_side_require(*, tenant: Tenant, actor: Any, contribution: Contribution, action: str) -> None:
    role_require(user=actor, tenant=tenant, minimum=Role.STEWARD, action=action)
    if contribution.consortium_id != tenant.pk:
        raise Forbidden("Only the consortium decides on an offer it received.", code="consortium_only")


def _locked(contribution: Contribution) -> Contribution:
    rows = Contribution.objects.select_for_update(of=("self",))  # the lab may be gone (an empty link)
    return rows.select_related("lab", "consortium").get(pk=contribution.pk)


def contribution_accept(
    *, tenant: Tenant, actor: Any, contribution: Contribution, slug: str, request: HttpRequest | None = None
) -> Contribution:
    """Accept an offer under the consortium's local ``slug``: the study appears in the consortium's catalog."""
    _consortium_side_require(tenant=tenant, actor=actor, contribution=contribution, action="accept contributions")
    try:
        STUDY_SLUG_VALIDATOR(slug)
    except Exception as exc:
        raise InvalidInput(
            "Use 1-63 lower-case letters, digits or hyphens, starting with a letter.", code="invalid_slug"
        ) from exc
    with transaction.atomic():
        locked = _locked(contribution)
        if locked.status != ContributionStatus.OFFERED:
            raise Conflict(f"This contribution is {locked.status}, not offered.", code="contribution_not_offered")
        if locked.lab is None or not locked.lab_governs:
            raise Conflict(
                "The contributing lab is suspended or leaving the platform.", code="contribution_not_offered"
            )
        if not _offerer_still_may(locked):
            raise Conflict(
                "The person who offered this study can no longer share the lab's studies (they left the lab, lost "
                "the steward role or their account was closed). Ask the lab to offer it again.",
                code="contribution_not_offered",
            )
        if Study.objects.filter(slug=slug).exists():
            raise Conflict("A study with this slug exists in this workspace.", code="slug_taken")
        lab = lab_study_read(locked)
        if lab is None:
            raise Conflict("The contributing lab no longer has this study.", code="study_gone")
        study = mirror_create(locked, lab, slug)
        if locked.terms:
            dua_create(
                tenant=tenant, actor=actor, study=study, text=locked.terms, request=request, from_contribution=True
            )
        locked.status = ContributionStatus.ACTIVE
        locked.local_study_id = study.pk
        locked.local_slug = slug
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.save()
        _record(locked, "contribution.accepted", actor, request, tenant.schema_name)
        _record(locked, "contribution.accepted", actor, request, locked.lab.schema_name)
    return locked


def _offerer_still_may(contribution: Contribution) -> bool:
    """Whether the person who offered ``contribution`` could still offer it now: an active account, a steward or
    owner of the lab. An offer lives no longer than its maker's right to make it (as an invitation does), however
    that right was lost (removal, a role change, a closed account, an operator's edit)."""
    if contribution.offered_by_id is None or contribution.lab is None:
        return False
    maker = User.objects.filter(pk=contribution.offered_by_id, is_active=True).first()  # a deleted one: no row
    if maker is None:
        return False
    membership = membership_get(user=maker, tenant=contribution.lab)
    return membership is not None and role_at_least(membership.role, Role.STEWARD)


def contribution_decline(
    *, tenant: Tenant, actor: Any, contribution: Contribution, request: HttpRequest | None = None
) -> Contribution:
    """Decline an offer (nothing appears in the consortium)."""
    _consortium_side_require(tenant=tenant, actor=actor, contribution=contribution, action="decline contributions")
    with transaction.atomic():
        locked = _locked(contribution)
        if locked.status != ContributionStatus.OFFERED:
            raise Conflict(f"This contribution is {locked.status}, not offered.", code="contribution_not_offered")
        locked.status = ContributionStatus.DECLINED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.save()
        _record(locked, "contribution.declined", actor, request, tenant.schema_name)
        if locked.lab is not None:  # a deleted lab's offers are withdrawn, never declined: kept for the type
            _record(locked, "contribution.declined", actor, request, locked.lab.schema_name)
    return locked


def contribution_level_set(
    *, tenant: Tenant, actor: Any, contribution: Contribution, level: str, request: HttpRequest | None = None
) -> Contribution:
    """Change the ceiling (lab side); the next use in the consortium is capped by it."""
    _lab_side_require(tenant=tenant, actor=actor, contribution=contribution, action="change a contribution")
    level = _level_clean(level)
    with transaction.atomic():
        locked = _locked(contribution)
        if locked.status not in (ContributionStatus.OFFERED, ContributionStatus.ACTIVE):
            raise Conflict(f"This contribution is {locked.status}.", code="contribution_closed")
        if locked.level != level:
            previous = locked.level
            locked.level = level
            locked.level_changed_at = timezone.now()
            locked.save(update_fields=["level", "level_changed_at"])
            audit_event_record(
                action="contribution.level_changed",
                actor=actor,
                request=request,
                target_type="sharing.contribution",
                target_id=str(locked.pk),
                target_repr=f"{locked.study_slug} -> {locked.consortium_shown[0]}",
                details={**_audit_details(locked), "previous": previous},
            )
            # Raises above the new ceiling stay; raises at or below it mean nothing any more.
            CeilingRaise.objects.filter(contribution=locked, status="approved").exclude(
                level__in=[lv for lv in SHAREABLE_LEVELS if LEVEL_RANK[lv] > LEVEL_RANK[level]]
            ).update(status="superseded")
    return locked


def contribution_withdraw(
    *, tenant: Tenant, actor: Any, contribution: Contribution, request: HttpRequest | None = None
) -> Contribution:
    """Withdraw (lab side): every use in the consortium is refused from the next request on."""
    _lab_side_require(tenant=tenant, actor=actor, contribution=contribution, action="withdraw a contribution")
    with transaction.atomic():
        locked = _locked(contribution)
        if locked.status == ContributionStatus.WITHDRAWN:
            raise Conflict("This contribution is already withdrawn.", code="contribution_closed")
        _withdrawn(locked, actor)
        _record(locked, "contribution.withdrawn", actor, request, tenant.schema_name)
    return locked


def _withdrawn(locked: Contribution, actor: Any) -> None:
    """Mark ``locked`` (a locked row) withdrawn; the consortium's participant index stores of the study go when the
    transaction commits."""
    locked.status = ContributionStatus.WITHDRAWN
    locked.withdrawn_by = actor
    locked.withdrawn_at = timezone.now()
    locked.save(update_fields=["status", "withdrawn_by", "withdrawn_at"])
    if locked.local_study_id is not None and locked.consortium is not None:
        study_pk, schema = locked.local_study_id, locked.consortium.schema_name
        transaction.on_commit(lambda: participant_stores_remove(study_pk, schema))


def contributions_of_deleted_lab(lab: Tenant) -> int:
    """Before ``lab``'s workspace is deleted: every contribution it made stays on record, withdrawn, with its slug
    and name (the workspace's row goes; the link to it becomes empty). Audited in each consortium's chain as
    ``contribution.withdrawn`` with ``details.reason`` ``lab_deleted`` (the lab's own chain goes with its schema;
    the platform's chain records the purge). Returns how many were withdrawn."""
    withdrawn = 0
    with transaction.atomic():
        for locked in Contribution.objects.select_for_update(of=("self",)).select_related("consortium").filter(lab=lab):
            locked.lab_slug, locked.lab_name = lab.slug, lab.name
            locked.save(update_fields=["lab_slug", "lab_name"])
            if locked.status in (ContributionStatus.OFFERED, ContributionStatus.ACTIVE) and locked.consortium:
                _withdrawn(locked, None)
                audit_event_record(
                    action="contribution.withdrawn",
                    target_type="sharing.contribution",
                    target_id=str(locked.pk),
                    target_repr=f"{locked.study_slug} -> {locked.consortium_shown[0]}",
                    details={**_audit_details(locked), "reason": "lab_deleted"},
                    schema_name=locked.consortium.schema_name,
                )
                withdrawn += 1
    return withdrawn


def contributions_to_deleted_consortium(consortium: Tenant) -> int:
    """Before ``consortium``'s workspace is deleted: the contributions it received stay on the labs' record,
    withdrawn, with its slug and name (the link becomes empty), their usage reports intact; requests beyond a
    ceiling still pending are withdrawn (nobody is left to approve). Audited in each lab's chain as
    ``contribution.withdrawn`` with ``details.reason`` ``consortium_deleted``. Returns how many were withdrawn."""
    withdrawn = 0
    with transaction.atomic():
        rows = Contribution.objects.select_for_update(of=("self",)).select_related("lab")
        for locked in rows.filter(consortium=consortium):
            locked.consortium_slug, locked.consortium_name = consortium.slug, consortium.name
            fields = ["consortium_slug", "consortium_name"]
            CeilingRaise.objects.filter(contribution=locked, status="pending").update(status="withdrawn")
            if locked.status in (ContributionStatus.OFFERED, ContributionStatus.ACTIVE):
                locked.status = ContributionStatus.WITHDRAWN
                locked.withdrawn_at = timezone.now()
                fields += ["status", "withdrawn_at"]
                withdrawn += 1
                if locked.lab is not None:
                    audit_event_record(
                        action="contribution.withdrawn",
                        target_type="sharing.contribution",
                        target_id=str(locked.pk),
                        target_repr=f"{locked.study_slug} -> {consortium.slug}",
                        details={**_audit_details(locked), "reason": "consortium_deleted"},
                        schema_name=locked.lab.schema_name,
                    )
            locked.save(update_fields=fields)
    return withdrawn


def raise_request(
    *,
    tenant: Tenant,
    actor: Any,
    contribution: Contribution,
    level: str,
    purpose: str,
    accept_terms: bool,
    request: HttpRequest | None = None,
) -> CeilingRaise:
    """A consortium member asks the contributing lab for a level above the ceiling (for them alone), accepting the
    contributor's terms; the lab's stewards are notified in their workspace."""
    role_require(user=actor, tenant=tenant, minimum=Role.ANALYST, action="request access")
    if contribution.consortium_id != tenant.pk or contribution.status != ContributionStatus.ACTIVE:
        raise Forbidden("Requests beyond the ceiling are made from the consortium.", code="consortium_only")
    if not contribution.usable:
        raise withdrawn_error()
    level = _level_clean(level)
    if LEVEL_RANK[level] <= LEVEL_RANK[contribution.level]:
        raise InvalidInput(
            "This level is within the ceiling: ask the consortium's stewards (access requests).",
            code="within_ceiling",
        )
    purpose = (purpose or "").strip()
    if not purpose or len(purpose) > PURPOSE_MAX:
        raise InvalidInput(f"Give a purpose of at most {PURPOSE_MAX} characters.", code="invalid_purpose")
    if contribution.terms and not accept_terms:
        raise InvalidInput("Accept the contributor's terms of use to ask.", code="terms_not_accepted")
    if CeilingRaise.objects.filter(contribution=contribution, user_id=actor.pk, status="pending").exists():
        raise Conflict("You already have a pending request on this study.", code="request_pending")
    with transaction.atomic():
        raised = CeilingRaise.objects.create(
            contribution=contribution,
            user=actor,
            level=level,
            purpose=purpose,
            terms_accepted_at=timezone.now() if contribution.terms else None,
        )
        details = {**_audit_details(contribution), "requested": level, "purpose": purpose, "request": raised.pk}
        audit_event_record(
            action="contribution.raise_requested",
            actor=actor,
            request=request,
            target_type="sharing.contribution",
            target_id=str(contribution.pk),
            details=details,
        )
        lab = _lab(contribution)
        audit_event_record(
            action="contribution.raise_requested",
            actor=actor,
            target_type="sharing.contribution",
            target_id=str(contribution.pk),
            details=details,
            schema_name=lab.schema_name,
        )
        with schema_context(lab.schema_name):
            notification_send(
                tenant=lab,
                users=stewards_of(lab),
                kind="contribution_request",
                text=f"{actor.email} ({tenant.name}) asks for {level} on {contribution.study_slug}",
                link="/sharing/",
            )
    return raised


def _consortium_grant(*, contribution: Contribution, raised: CeilingRaise, actor: Any) -> None:
    """The approved level, granted to that person on the whole contributed study in the consortium (audited there
    first: chains are always taken consortium first)."""
    consortium = contribution.consortium
    if consortium is None:  # raise_decide refuses first; kept for the type
        raise Conflict("The consortium no longer exists.", code="contribution_closed")
    with schema_context(consortium.schema_name):
        study = Study.objects.get(pk=int(contribution.local_study_id or 0))
        grant = Grant.objects.create(
            study=study,
            user_id=raised.user_id,
            level=raised.level,
            expires_at=raised.granted_expires_at,
            source=raised.grant_source,
            reason=f"approved by {contribution.lab_shown[1]}: {raised.purpose}"[:2000],
            granted_by=actor,
        )
        live = Grant.objects.filter(study=study, role="").filter(live_q()).select_related("team")
        study_permissions_sync(study=study, live_grants=list(live))
        audit_event_record(
            action="grant.created",
            actor=actor,
            target=grant,
            details={
                "study": study.slug,
                "dataset": None,
                "user": raised.user.email,
                "level": raised.level,
                "source": grant.source,
                "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
                "approved_by": contribution.lab_shown[0],
            },
        )


def raise_decide(
    *,
    tenant: Tenant,
    actor: Any,
    contribution: Contribution,
    raise_id: int,
    approve: bool,
    expires_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> CeilingRaise:
    """The lab's steward approves (for that person only, optionally until ``expires_at``, like an access request's
    approval) or denies a request beyond the ceiling. The expiry ends both the lifted ceiling and the grant."""
    _lab_side_require(tenant=tenant, actor=actor, contribution=contribution, action="decide requests")
    if approve and expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", code="invalid_expiry")
    with transaction.atomic():
        raised = CeilingRaise.objects.select_for_update().filter(pk=raise_id, contribution=contribution).first()
        if raised is None:
            raise NotFound("No such request.")
        consortium = contribution.consortium
        if approve and (consortium is None or contribution.status != ContributionStatus.ACTIVE):
            raise Conflict(f"This contribution is {contribution.status}.", code="contribution_closed")
        if approve and consortium is not None and membership_get(user=raised.user, tenant=consortium) is None:
            # Said before "decided": the request of someone who left was withdrawn with them.
            raise Conflict("The requester is no longer a member of the consortium.", code="requester_not_member")
        if raised.status != "pending":
            raise Conflict(f"This request is {raised.status}.", code="request_decided")
        raised.status = "approved" if approve else "denied"
        raised.decided_by = actor
        raised.decided_at = timezone.now()
        raised.granted_expires_at = expires_at if approve else None
        raised.save(update_fields=["status", "decided_by", "decided_at", "granted_expires_at"])
        if approve:
            _consortium_grant(contribution=contribution, raised=raised, actor=actor)
        audit_event_record(
            action="contribution.raise_approved" if approve else "contribution.raise_denied",
            actor=actor,
            request=request,
            target_type="sharing.contribution",
            target_id=str(contribution.pk),
            details={
                **_audit_details(contribution),
                "user": raised.user.email,
                "level": raised.level,
                "expires_at": raised.granted_expires_at.isoformat() if raised.granted_expires_at else None,
            },
        )
    return raised
