"""Writes for tenants, members and users. Every change is audited in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from audit.services import audit_event_record
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tenants.emails import email_verified_user, email_vouch, user_email_verified
from tenants.models import SLUG_VALIDATOR, Domain, Membership, Tenant, User, WorkspaceKind
from tenants.quotas import Quota, quota_require
from tenants.roles import Role

PUBLIC_SLUG = "platform"


def schema_name_for_slug(slug: str) -> str:
    """Schema names are slugs with hyphens as underscores, prefixed so they never clash with system schemas."""
    return "t_" + slug.replace("-", "_")


def public_tenant_ensure() -> Tenant:
    """Create the public tenant (schema ``public``) and its domain if missing; idempotent."""
    tenant = Tenant.objects.filter(schema_name=settings.PUBLIC_SCHEMA_NAME).first()
    if tenant is None:
        tenant = Tenant(schema_name=settings.PUBLIC_SCHEMA_NAME, slug=PUBLIC_SLUG, name="BDT Platform")
        tenant.save()
    Domain.objects.get_or_create(domain=settings.PUBLIC_DOMAIN, defaults={"tenant": tenant, "is_primary": True})
    return tenant


@dataclass(frozen=True)
class TenantCreateResult:
    tenant: Tenant
    created: bool


def _validate_domain(domain: str) -> str:
    host = domain.strip().lower()
    if not host or any(char in host for char in "/:@ ") or len(host) > 253:
        raise InvalidInput(f"{domain!r} is not a valid host name (no scheme, port or path).", code="invalid_domain")
    return host


def tenant_create(
    *,
    slug: str,
    name: str,
    domain: str,
    owner_email: str | None = None,
    kind: str = WorkspaceKind.LAB,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> TenantCreateResult:
    """Create a tenant with its schema and domain (idempotent for the same arguments).

    A consortium starts its analysts at the metadata level (owners may change that in the settings).
    Raises :class:`Conflict` when the slug exists with another name or kind, or the domain belongs to another tenant.
    """
    if kind not in WorkspaceKind.values:
        raise InvalidInput(
            f"Unknown workspace kind {kind!r}; choose one of: {', '.join(WorkspaceKind.values)}.", code="invalid_kind"
        )
    try:
        SLUG_VALIDATOR(slug)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid tenant slug {slug!r}: {exc.messages[0]}", code="invalid_slug") from exc
    if slug == PUBLIC_SLUG:
        raise InvalidInput(f"The slug {slug!r} is reserved.", code="invalid_slug")
    if not name.strip():
        raise InvalidInput("A tenant needs a name.", code="invalid_name")
    host = _validate_domain(domain)
    if host == settings.PUBLIC_DOMAIN:
        raise Conflict(f"{host} is the platform's public host.", code="domain_taken")

    existing = Tenant.objects.filter(slug=slug).first()
    owner_domain = Domain.objects.filter(domain=host).select_related("tenant").first()
    if owner_domain is not None and owner_domain.tenant.slug != slug:
        raise Conflict(f"The domain {host} already belongs to another tenant.", code="domain_taken")
    if existing is not None and existing.name != name:
        raise Conflict(f"A tenant {slug!r} already exists with the name {existing.name!r}.", code="tenant_exists")
    if existing is not None and existing.kind != kind:
        raise Conflict(f"A tenant {slug!r} already exists as a {existing.kind} workspace.", code="tenant_exists")

    created = existing is None
    if existing is None:
        initial_settings = {"analyst_default_level": "metadata"} if kind == WorkspaceKind.CONSORTIUM else {}
        tenant = Tenant(
            schema_name=schema_name_for_slug(slug), slug=slug, name=name.strip(), kind=kind, settings=initial_settings
        )
        tenant.save(verbosity=0)  # creates the schema and runs the tenant migrations
    else:
        tenant = existing
    with transaction.atomic():
        if owner_domain is None:
            is_primary = not tenant.domains.exists()  # type: ignore[attr-defined]
            Domain.objects.create(domain=host, tenant=tenant, is_primary=is_primary)
        if created:
            audit_event_record(
                action="tenant.created",
                actor=actor,
                request=request,
                target=tenant,
                details={"domain": host, "kind": kind},
            )
            audit_event_record(
                action="tenant.created",
                actor=actor,
                request=request,
                target=tenant,
                details={"domain": host, "kind": kind},
                schema_name=tenant.schema_name,
            )
        if owner_email:
            owner = user_get_or_create(email=owner_email)
            membership_set(tenant=tenant, user=owner, role=Role.OWNER, actor=actor, request=request)
    return TenantCreateResult(tenant=tenant, created=created)


def domain_add(*, tenant: Tenant, domain: str, actor: User | None = None) -> Domain:
    """Attach another host name to a tenant (idempotent)."""
    host = _validate_domain(domain)
    existing = Domain.objects.filter(domain=host).select_related("tenant").first()
    if existing is not None:
        if existing.tenant_id != tenant.pk:
            raise Conflict(f"The domain {host} already belongs to another tenant.", code="domain_taken")
        return existing
    with transaction.atomic():
        created = Domain.objects.create(domain=host, tenant=tenant, is_primary=not tenant.domains.exists())  # type: ignore[attr-defined]
        audit_event_record(
            action="tenant.domain_added",
            actor=actor,
            target=tenant,
            details={"domain": host},
            schema_name=tenant.schema_name,
        )
    return created


def user_get_or_create(*, email: str, password: str | None = None, full_name: str = "") -> User:
    """The account of ``email``, created (without a usable password unless given) if missing.

    For operator paths (``tenant_create --owner``, ``token_create``, ``seed_demo``): the operator vouches for the
    address, so it is recorded as verified. An existing account that holds the address only *unverified* is refused
    (409 ``email_unverified``): whoever typed it into that account never proved it is theirs."""
    normalized = email.strip().lower()
    try:
        from django.core.validators import validate_email

        validate_email(normalized)
    except ValidationError as exc:
        raise InvalidInput(f"{email!r} is not a valid e-mail address.", code="invalid_email") from exc
    verified = email_verified_user(normalized)
    if verified is not None:
        return verified
    user = User.objects.filter(email=normalized).first()
    with transaction.atomic():
        if user is None:
            user = User.objects.create_user(email=normalized, password=password, full_name=full_name)
            if password is None:
                user.set_unusable_password()
                user.save(update_fields=["password"])
        try:
            email_vouch(user)
        except ValueError:
            raise Conflict(
                f"{normalized} belongs to an account that has not verified it. The person must confirm the address "
                "(the link in the mail they received, or Account > E-mail) before it can be used.",
                code="email_unverified",
            ) from None
    return user


def membership_set(
    *, tenant: Tenant, user: User, role: str, actor: User | None = None, request: HttpRequest | None = None
) -> Membership:
    """Make ``user`` a member of ``tenant`` with ``role`` (adds or changes the role); audited in the tenant.

    Only an account with a verified sign-in address becomes a member (409 ``email_unverified``)."""
    if role not in Role.values:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="invalid_role")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(tenant=tenant, user=user).first()
        if membership is None:
            if not user_email_verified(user):
                raise Conflict(
                    f"{user.email} has not been verified; only a verified address can become a member.",
                    code="email_unverified",
                )
            quota_require(tenant=tenant, quota=Quota.MEMBERS, used=Membership.objects.filter(tenant=tenant).count())
            membership = Membership.objects.create(tenant=tenant, user=user, role=role)
            audit_event_record(
                action="member.added",
                actor=actor,
                request=request,
                target=membership,
                details={"email": user.email, "role": role},
                schema_name=tenant.schema_name,
            )
        elif membership.role != role:
            if membership.role == Role.OWNER and _owner_count(tenant) == 1:
                raise Conflict("The last owner of a tenant cannot be given another role.", code="last_owner")
            previous = membership.role
            membership.role = role
            membership.save(update_fields=["role"])
            audit_event_record(
                action="member.role_changed",
                actor=actor,
                request=request,
                target=membership,
                details={"email": user.email, "from": previous, "to": role},
                schema_name=tenant.schema_name,
            )
    return membership


def _owner_count(tenant: Tenant) -> int:
    """How many owners ``tenant`` has, locking their rows (call inside the transaction that may remove one): two
    owners demoting or removing each other at the same time are serialized, so the tenant never ends up ownerless."""
    return len(Membership.objects.select_for_update().filter(tenant=tenant, role=Role.OWNER).values_list("pk"))


def membership_delete(
    *, tenant: Tenant, user: User, actor: User | None = None, request: HttpRequest | None = None
) -> None:
    """Delete a membership (never the last owner's) and revoke the user's tokens for this tenant. No role check:
    ``tenants.members.member_remove`` is the governed action that calls this."""
    from tenants.tokens import api_token_revoke_all

    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(tenant=tenant, user=user).first()
        if membership is None:
            raise NotFound("No such member.")
        if membership.role == Role.OWNER and _owner_count(tenant) == 1:
            raise Conflict("The last owner of a tenant cannot be removed.", code="last_owner")
        if actor is not None and actor.pk == user.pk and membership.role == Role.OWNER:
            raise Forbidden("Owners cannot remove themselves; hand ownership over first.")
        membership.delete()
        revoked = api_token_revoke_all(user=user, tenant=tenant)
        audit_event_record(
            action="member.removed",
            actor=actor,
            request=request,
            target_type="tenants.membership",
            target_id=str(user.pk),
            target_repr=user.email,
            details={"email": user.email, "tokens_revoked": revoked},
            schema_name=tenant.schema_name,
        )
