from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from failover.authorities import ROLE_AUTHORITY


class Policy(models.Model):
    """How much approval a service's failover needs. Every service has one (defaults apply)."""

    service = models.OneToOneField(
        "failover.Service", on_delete=models.CASCADE, related_name="policy"
    )
    required_availability = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    required_identity = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    require_comms_sign_off = models.BooleanField(default=False)
    approval_validity_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1)],
        help_text="An approval or sign-off older than this stops counting",
    )
    request_ttl_minutes = models.PositiveIntegerField(
        default=240, validators=[MinValueValidator(5)], help_text="Open requests expire after this"
    )
    signal_window_minutes = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(1)],
        help_text="A firing signal counts as a breach for this long after it was received",
    )
    execute_on_approval = models.BooleanField(
        default=True, help_text="Execute as soon as the last approval or sign-off arrives"
    )
    break_glass_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="A break-glass grant lets its holder execute and roll back for this long",
    )
    drill_every_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text="Open a drill this many days after the last one and ask the chain to run it "
        "(empty: no schedule)",
    )
    drill_target = models.SlugField(
        max_length=80,
        blank=True,
        help_text="The target a scheduled drill rehearses (empty: the one failover target)",
    )
    drill_window_days = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text="A service not drilled, or a chain holder who has not acted, within this many "
        "days is flagged on the dashboard",
    )

    class Meta:
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return f"policy of {self.service}"


class Decision(models.Model):
    """One person's act on a request, bound to the plan it was made against."""

    class Kind(models.TextChoices):
        APPROVE = "approve", "Approve"
        VETO = "veto", "Veto"
        LIFT_VETO = "lift_veto", "Lift veto"
        SIGN_OFF = "sign_off", "Sign off"
        REJECT = "reject", "Reject"

    class Channel(models.TextChoices):
        WEB = "web", "Web"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        CLI = "cli", "Command line"
        SYSTEM = "system", "System"

    ROLE_CHOICES = [(role, role.replace("_", " ")) for role in ROLE_AUTHORITY]

    request = models.ForeignKey(
        "failover.FailoverRequest", on_delete=models.CASCADE, related_name="decisions"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    role = models.CharField(max_length=30, choices=ROLE_CHOICES, blank=True)
    plan_hash = models.CharField(max_length=64)
    comment = models.TextField(blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    lifts = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="lifted_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # How its decider proved it was them (a passkey assertion over this act and plan, ...).
    step_up = models.ForeignKey(
        "identity.StepUpProof", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set once, when its decider loses the authority it was made with: it never counts again,
    # even if the authority comes back (invariant 14).
    voided_at = models.DateTimeField(null=True, blank=True, editable=False)
    voided_reason = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="lift_veto") | Q(lifts__isnull=False), name="lift_names_veto"
            ),
        ]

    def __str__(self) -> str:
        role = f" as {self.role}" if self.role else ""
        return f"{self.actor} {self.kind}{role} on #{self.request_id}"


class ServiceAccount(models.Model):
    """A non-human principal (a paging tool, a pipeline) that holds authority like a person."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"service account {self.user.username}"


class ApiToken(models.Model):
    """A bearer token, shown once and stored as a digest; optionally scoped and expiring."""

    # What each action lets a token do through the API (failover/api/access.py maps every
    # route to one): "configure" changes the registry itself (e.g. registers a service).
    ACTIONS = ("read", "declare", "decide", "execute", "rollback", "cancel", "audit", "configure")
    # A token that may do any of these (or names no action: all) is an acting token: personal,
    # minted after its person's step-up, short-lived (approvals/tokens.py has the rules).
    # Break-glass needs `execute`.
    ACTING_ACTIONS = ("decide", "execute", "rollback")
    # All a service account's token may do (paging tools read and declare).
    SERVICE_ACCOUNT_ACTIONS = ("read", "declare", "audit")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Identifies the token in logs")
    digest = models.CharField(max_length=64)
    services = models.ManyToManyField(
        "failover.Service", blank=True, help_text="Only these services (empty: all of the user's)"
    )
    actions = models.JSONField(
        default=list, blank=True, help_text="Only these actions (empty: all)"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # When its person last confirmed it is them for this token (minting, renewing): a human
    # act by the token needs this within TOKEN_STEP_UP_MAX_AGE_MINUTES.
    stepped_up_at = models.DateTimeField(null=True, blank=True)
    rotated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"


class IdempotencyKey(models.Model):
    """The first response to a POST with an Idempotency-Key, replayed for the same key and body.

    A key belongs to the token that sent it (or, for session callers, to the user), so one
    token's replay never hands out what another credential of the same user was answered."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"],
                condition=models.Q(token__isnull=True),
                name="idempotency_once_per_session_user",
            ),
            models.UniqueConstraint(
                fields=["token", "key"],
                condition=models.Q(token__isnull=False),
                name="idempotency_once_per_token",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class BreakGlassQuerySet(models.QuerySet):
    def granting(self, *, actor, request, now=None) -> BreakGlassQuerySet:
        """The uses whose time box still lets `actor` act on `request` (execute, roll back)."""
        return self.filter(request=request, actor=actor, expires_at__gt=now or timezone.now())

    def overridden_vetoes(self, request_id: int) -> dict[int, BreakGlass]:
        """Veto decision id -> the first of these uses on the request that named and overrode
        it (with its veto justification)."""
        found: dict[int, BreakGlass] = {}
        for use in self.filter(request_id=request_id).select_related("actor").order_by("pk"):
            for item in use.overridden:
                if item.get("kind") == "veto" and item.get("id"):
                    found.setdefault(item["id"], use)
        return found


class BreakGlass(models.Model):
    """One use of break-glass: a holder executed a request without the normal approvals.

    The grant is time-boxed: until `expires_at` its holder may execute and roll back this
    request without further authority. It stays open for post-incident review until two other
    people, one of them holding `approve_identity`, have recorded their review.
    """

    request = models.ForeignKey(
        "failover.FailoverRequest", on_delete=models.PROTECT, related_name="break_glass_uses"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    justification = models.TextField()
    veto_justification = models.TextField(blank=True)
    # [{"kind": "veto"|"system_veto"|"incomplete_chain"|"readiness_pending", "id": int|None,
    #   "reason": str}], one per standing block the use overrode
    overridden = models.JSONField(default=list, blank=True)
    skipped_roles = models.JSONField(default=list, blank=True)
    plan_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(help_text="The grant lets its holder act until then")
    review_closed_at = models.DateTimeField(null=True, blank=True)

    objects = BreakGlassQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "break-glass use"
        verbose_name_plural = "break-glass uses"

    def __str__(self) -> str:
        return f"break-glass by {self.actor} on #{self.request_id}"

    @property
    def review_open(self) -> bool:
        return self.review_closed_at is None


class BreakGlassReview(models.Model):
    """One person's post-incident review of a break-glass use."""

    break_glass = models.ForeignKey(BreakGlass, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    holds_approve_identity = models.BooleanField(
        help_text="Whether the reviewer held approve_identity on the service when reviewing"
    )
    comment = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["break_glass", "reviewer"], name="break_glass_review_once"
            )
        ]

    def __str__(self) -> str:
        return f"review by {self.reviewer} of break-glass #{self.break_glass_id}"
