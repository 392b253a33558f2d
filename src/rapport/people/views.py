"""Staff administration pages (care managers and admins). Thin adapters over people.services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from rapport.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from rapport.core.models import Notification
from rapport.people import services
from rapport.people.forms import StaffCreateForm, StaffUpdateForm, TeamForm, add_service_errors
from rapport.people.models import Role, Staff, Team
from rapport.people.permissions import can_administer_staff


def _require_admin(request: HttpRequest) -> Staff:
    if not can_administer_staff(request.user):
        raise PermissionDenied("Care managers and admins administer staff.")
    return request.user  # type: ignore[return-value]


def _page(
    request: HttpRequest,
    *,
    staff_form: StaffCreateForm | None = None,
    team_form: TeamForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        # Two queries whatever the head count: staff with their team, and the teams with a count.
        "staff": Staff.objects.select_related("team").order_by("-is_active", "username"),
        "teams": Team.objects.annotate(member_count=Count("members")).order_by("name"),
        "roles": Role.choices,
        "staff_form": staff_form or StaffCreateForm(),
        "team_form": team_form or TeamForm(),
    }
    return render(request, "people/staff.html", context, status=status)


@login_required
@require_GET
def staff_list(request: HttpRequest) -> HttpResponse:
    _require_admin(request)
    return _page(request)


@login_required
@require_POST
def staff_create(request: HttpRequest) -> HttpResponse:
    actor = _require_admin(request)
    form = StaffCreateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            staff = services.create_staff(
                actor=actor,
                username=data["username"],
                role=data["role"],
                password=data["password"],
                email=data["email"] or "",
                team=data["team"],
                first_name=data["first_name"],
                last_name=data["last_name"],
            )
        except InvalidInput as exc:
            add_service_errors(form, exc)
        except Conflict as exc:
            form.add_error("username", exc.detail)
        else:
            messages.success(request, f"Added {staff.display_name} as {staff.get_role_display()}.")
            return redirect("staff")
    return _page(request, staff_form=form, status=400)


@login_required
@require_POST
def staff_update(request: HttpRequest, staff_id: int) -> HttpResponse:
    actor = _require_admin(request)
    form = StaffUpdateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(m) for ms in form.errors.values() for m in ms))
        return redirect("staff")
    data = form.cleaned_data
    clear_team = data["team"] == StaffUpdateForm.NO_TEAM
    try:
        staff = services.update_staff(
            actor=actor,
            staff_id=staff_id,
            role=data["role"],
            team=None if clear_team else data["team"],
            clear_team=clear_team,
            is_active=data["is_active"],
        )
    except NotFound:
        messages.error(request, "That staff member no longer exists.")
    except InvalidInput as exc:
        messages.error(request, " ".join(m for ms in exc.errors.values() for m in ms))
    else:
        messages.success(request, f"Saved {staff.display_name}.")
    return redirect("staff")


@login_required
@require_POST
def team_create(request: HttpRequest) -> HttpResponse:
    actor = _require_admin(request)
    form = TeamForm(request.POST)
    if form.is_valid():
        try:
            team = services.create_team(actor=actor, name=form.cleaned_data["name"])
        except InvalidInput as exc:
            add_service_errors(form, exc)
        except Conflict as exc:
            form.add_error("name", exc.detail)
        else:
            messages.success(request, f"Added the team {team.name}.")
            return redirect("staff")
    return _page(request, team_form=form, status=400)


# --- notifications (each staff member's inbox; the bell in the header) --------------------

NOTIFICATION_PAGE = 100


@login_required
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    mine = Notification.objects.filter(recipient_id=request.user.pk)
    items = list(mine.order_by("-created_at", "-id")[:NOTIFICATION_PAGE])
    unread = sum(1 for n in items if n.read_at is None)
    return render(request, "people/notifications.html", {"items": items, "unread": unread})


@login_required
@require_GET
def notification_bell(request: HttpRequest) -> HttpResponse:
    """The header bell's count, fetched by htmx so ordinary pages pay no query for it."""
    count = Notification.objects.filter(recipient_id=request.user.pk, read_at__isnull=True).count()
    return render(request, "people/_bell.html", {"unread": count})


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one read and follow its link (only links within this site)."""
    notification = Notification.objects.filter(id=notification_id, recipient_id=request.user.pk).first()
    if notification is None:
        messages.error(request, "That notification is not yours or no longer exists.")
        return redirect("notifications")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    link = notification.link
    safe = link.startswith("/") and url_has_allowed_host_and_scheme(link, allowed_hosts={request.get_host()})
    return redirect(link if safe and request.POST.get("follow") else "notifications")


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    unread = Notification.objects.filter(recipient_id=request.user.pk, read_at__isnull=True)
    marked = unread.update(read_at=timezone.now())
    messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} read.")
    return redirect("notifications")
