"""API v1: bearer authentication, staff, teams and role authority."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.security import HttpBearer

from rapport.core.money import Money
from rapport.people import services
from rapport.people.models import Role, RoleAuthority, Staff, Team
from rapport.people.permissions import require_staff


def staff_of(request: HttpRequest) -> Staff:
    """The staff member a bearer token authenticated (ninja puts it on ``request.auth``)."""
    return request.auth  # type: ignore[attr-defined]


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Staff | None:
        return services.authenticate_token(token)


router = Router(tags=["people"])


class MoneySchema(Schema):
    amount: Decimal
    currency: str


class RoleOut(Schema):
    role: str
    label: str
    max_compensation: MoneySchema


class RolePatch(Schema):
    max_compensation: MoneySchema


class StaffOut(Schema):
    id: int
    username: str
    name: str
    email: str
    role: str
    team: str | None
    is_active: bool


class StaffIn(Schema):
    username: str
    role: str
    email: str = ""
    password: str | None = None
    team: str | None = None
    first_name: str = ""
    last_name: str = ""


def _role_out(authority: RoleAuthority) -> dict[str, object]:
    return {
        "role": authority.role,
        "label": Role(authority.role).label,
        "max_compensation": {
            "amount": authority.max_compensation_amount,
            "currency": authority.max_compensation_currency,
        },
    }


def _staff_out(staff: Staff) -> dict[str, object]:
    return {
        "id": staff.id,
        "username": staff.username,
        "name": staff.display_name,
        "email": staff.email,
        "role": staff.role,
        "team": staff.team.name if staff.team else None,
        "is_active": staff.is_active,
    }


@router.get("/roles", response=list[RoleOut], summary="Roles and their authority limits")
def list_roles(request: HttpRequest) -> list[dict[str, object]]:
    require_staff(staff_of(request))
    existing = {a.role: a for a in RoleAuthority.objects.all()}
    return [_role_out(existing.get(role) or RoleAuthority(role=role)) for role in Role.values]


@router.patch("/roles/{role}", response=RoleOut, summary="Change a role's authority (admins only)")
def patch_role(request: HttpRequest, role: str, payload: RolePatch) -> dict[str, object]:
    money = Money.parse(
        payload.max_compensation.amount, payload.max_compensation.currency, field="max_compensation.amount"
    )
    authority = services.set_role_authority(actor=staff_of(request), role=role, max_compensation=money)
    return _role_out(authority)


@router.get("/staff", response=list[StaffOut], summary="Staff members")
def list_staff(request: HttpRequest) -> list[dict[str, object]]:
    require_staff(staff_of(request))
    return [_staff_out(s) for s in Staff.objects.select_related("team").order_by("username")]


@router.post("/staff", response={201: StaffOut}, summary="Add a staff member (care managers and admins)")
def create_staff(request: HttpRequest, payload: StaffIn) -> Status:
    staff = services.create_staff(actor=staff_of(request), **payload.dict())
    return Status(201, _staff_out(staff))


class TeamOut(Schema):
    id: int
    name: str
    lead: str | None


@router.get("/teams", response=list[TeamOut], summary="Teams")
def list_teams(request: HttpRequest) -> list[dict[str, object]]:
    require_staff(staff_of(request))
    return [
        {"id": t.id, "name": t.name, "lead": t.lead.username if t.lead else None}
        for t in Team.objects.select_related("lead")
    ]
