"""Staff, teams, roles and their authority, and API tokens."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from rapport.core.money import Money


class Role(models.TextChoices):
    AGENT = "agent", "Agent"
    LEAD = "lead", "Team lead"
    MANAGER = "manager", "Care manager"
    ADMIN = "admin", "Admin"


# Seniority: a role may do what the roles below it may do.
ROLE_RANK = {Role.AGENT: 0, Role.LEAD: 1, Role.MANAGER: 2, Role.ADMIN: 3}


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    lead = models.ForeignKey("Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="teams_led")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StaffQuerySet(models.QuerySet["Staff"]):
    def active(self) -> StaffQuerySet:
        return self.filter(is_active=True)


class StaffManager(UserManager["Staff"]):
    def get_queryset(self) -> StaffQuerySet:
        return StaffQuerySet(self.model, using=self._db)

    def active(self) -> StaffQuerySet:
        return self.get_queryset().active()


class Staff(AbstractUser):
    """A member of the care organisation. Django's user model, with a role and a team."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    timezone = models.CharField(max_length=64, default="UTC")

    objects = StaffManager()  # type: ignore[misc]

    class Meta:
        verbose_name = "staff member"
        verbose_name_plural = "staff"
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def display_name(self) -> str:
        return str(self)

    def has_role_at_least(self, role: str) -> bool:
        return bool(self.is_active) and ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class RoleAuthority(models.Model):
    """What each role may do on its own authority (the cases issue reads the compensation limit)."""

    role = models.CharField(max_length=16, choices=Role.choices, unique=True)
    max_compensation_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    max_compensation_currency = models.CharField(max_length=3, default="GBP")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "role authorities"
        constraints = [
            models.CheckConstraint(condition=models.Q(max_compensation_amount__gte=0), name="authority_non_negative")
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.max_compensation}"

    @property
    def max_compensation(self) -> Money:
        return Money(self.max_compensation_amount, self.max_compensation_currency)


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored; the token is shown once."""

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)  # shown in lists so a person can tell tokens apart
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.staff})"
