"""Write use-cases for staff, teams, authority and tokens.

``actor=None`` means the system itself (a shell command run by the operator); every
adapter that serves a person passes that person, and the checks below apply.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rapport.core import audit
from rapport.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from rapport.core.money import Money
from rapport.people import queries
from rapport.people.models import ApiToken, Role, RoleAuthority, Staff, Team
from rapport.people.permissions import require_role

TOKEN_PREFIX = "rpt_"  # noqa: S105  (a visible prefix that marks Rapport tokens, not a secret)


def _check_admin(actor: Staff | None, role: str | None = None) -> None:
    if actor is None:
        return
    require_role(actor, Role.MANAGER, "administer staff")
    if role == Role.ADMIN and not actor.has_role_at_least(Role.ADMIN):
        raise PermissionDenied("Only an admin may make someone an admin.")


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidInput(f"Unknown role '{role}'; choose one of {', '.join(Role.values)}.", "role") from None


@transaction.atomic
def create_team(*, actor: Staff | None, name: str, lead: Staff | None = None) -> Team:
    _check_admin(actor)
    name = name.strip()
    if not name:
        raise InvalidInput("A team needs a name.", "name")
    team, created = Team.objects.get_or_create(name=name, defaults={"lead": lead})
    if not created:
        raise Conflict(f"A team called '{name}' already exists.", existing_id=team.id)
    audit.record(actor=actor, action="team.created", subject_type="team", subject_id=team.id, changes={"name": name})
    return team


@transaction.atomic
def create_staff(
    *,
    actor: Staff | None,
    username: str,
    role: str,
    password: str | None = None,
    email: str = "",
    team: str | Team | None = None,
    first_name: str = "",
    last_name: str = "",
) -> Staff:
    role_value = _role(role)
    _check_admin(actor, role_value)
    username = username.strip()
    if not username:
        raise InvalidInput("A username is required.", "username")
    if isinstance(team, str):
        team = Team.objects.filter(name=team).first() or create_team(actor=actor, name=team)
    staff = Staff(
        username=username,
        email=email.strip(),
        role=role_value,
        team=team,
        first_name=first_name,
        last_name=last_name,
        is_staff=role_value == Role.ADMIN,
    )
    if password:
        try:
            validate_password(password, staff)
        except ValidationError as exc:
            raise InvalidInput({"password": list(exc.messages)}) from None
        staff.set_password(password)
    else:
        staff.set_unusable_password()
    try:
        with transaction.atomic():
            staff.save()
    except IntegrityError:
        raise Conflict(f"The username '{username}' is taken.") from None
    audit.record(
        actor=actor,
        action="staff.created",
        subject_type="staff",
        subject_id=staff.id,
        changes={"username": username, "role": role_value.value, "team": str(team) if team else None},
    )
    return staff


@transaction.atomic
def update_staff(
    *,
    actor: Staff | None,
    staff_id: int,
    role: str | None = None,
    team: Team | None = None,
    clear_team: bool = False,
    is_active: bool | None = None,
) -> Staff:
    """Change what is given; ``team=None`` keeps the team, ``clear_team`` takes the member off it."""
    _check_admin(actor, role)
    staff = Staff.objects.select_for_update().filter(id=staff_id).first()
    if staff is None:
        raise NotFound("No such staff member.")
    if actor is not None and staff.role == Role.ADMIN and not actor.has_role_at_least(Role.ADMIN):
        raise PermissionDenied("Only an admin may change an admin.")
    before = {"role": staff.role, "team": staff.team, "is_active": staff.is_active}
    if role is not None:
        staff.role = _role(role)
        staff.is_staff = staff.role == Role.ADMIN
    if clear_team:
        staff.team = None
    elif team is not None:
        staff.team = team
    if is_active is not None:
        if actor is not None and actor.id == staff.id and not is_active:
            raise InvalidInput("You cannot deactivate yourself.", "is_active")
        staff.is_active = is_active
    staff.save()
    after = {"role": staff.role, "team": staff.team, "is_active": staff.is_active}
    audit.record(
        actor=actor,
        action="staff.updated",
        subject_type="staff",
        subject_id=staff.id,
        changes=audit.diff(before, after),
    )
    return staff


@transaction.atomic
def set_role_authority(*, actor: Staff | None, role: str, max_compensation: Money) -> RoleAuthority:
    if actor is not None:
        require_role(actor, Role.ADMIN, "change what a role may authorise")
    role_value = _role(role)
    if max_compensation.amount < 0:
        raise InvalidInput("The limit cannot be negative.", "max_compensation")
    authority, _ = RoleAuthority.objects.select_for_update().get_or_create(role=role_value)
    before = {"max_compensation": str(authority.max_compensation)}
    authority.max_compensation_amount = max_compensation.amount
    authority.max_compensation_currency = max_compensation.currency
    authority.save()
    audit.record(
        actor=actor,
        action="role.authority_changed",
        subject_type="role",
        subject_id=list(Role).index(role_value),
        changes=audit.diff(before, {"max_compensation": str(authority.max_compensation)}),
    )
    return authority


def authority_for(staff: Staff) -> RoleAuthority:
    return RoleAuthority.objects.get_or_create(role=staff.role)[0]


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def issue_token(*, actor: Staff | None, staff: Staff) -> str:
    """Create a token for ``staff`` and return it; only its digest is kept."""
    if actor is not None and actor.id != staff.id:
        _check_admin(actor)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(staff=staff, digest=_digest(raw), prefix=raw[:10])
    audit.record(actor=actor, action="token.issued", subject_type="staff", subject_id=staff.id)
    return raw


def authenticate_token(raw: str) -> Staff | None:
    now = timezone.now()
    found = _token_holder(_digest(raw), stale_before=now - timedelta(minutes=1))
    if found is None:
        return None
    staff, token_id, stale = found
    if stale:  # touch last_used_at at most once a minute, so reads stay reads
        ApiToken.objects.filter(id=token_id).update(last_used_at=now)
    return staff


# Every API request runs this (see people.queries).
_HOLDER_SQL = f"""
    SELECT t.id, (t.last_used_at IS NULL OR t.last_used_at < %s), {queries.STAFF_AND_TEAM}
    FROM people_apitoken t JOIN people_staff s ON s.id = t.staff_id {queries.TEAM_JOIN}
    WHERE t.digest = %s AND t.revoked_at IS NULL AND s.is_active
"""  # noqa: S608 - fixed text


def _token_holder(digest: str, *, stale_before: datetime) -> tuple[Staff, int, bool] | None:
    """The active holder of a live token (team loaded), the token's id, and whether its last
    use is older than ``stale_before``."""
    with connection.cursor() as cursor:
        cursor.execute(_HOLDER_SQL, [connection.ops.adapt_datetimefield_value(stale_before), digest])
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, stale, *values = row
    return queries.staff_with_team(values), token_id, bool(stale)
