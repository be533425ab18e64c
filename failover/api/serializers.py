"""Shapes of the API: what it reads (output) and what it accepts (input). No rules here.

The output serializers both document the responses (drf-spectacular reads them) and produce
them: each reads rows the view prefetched, so serializing adds no query. A request row carries
what the view computed for it in bulk (`verdict`, `gate`, `latest_readiness`); a service row
its `chain` and `your_authorities` (see views.py)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import cast

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.models import Decision
from approvals.timings import timings_of
from failover.authorities import ROLE_AUTHORITY
from failover.models import FailoverRequest, GovernanceMode, Metric
from failover.rollback import LIMITS


class Text(serializers.CharField):
    """A string, and only a string: 42 is not silently taken for "42"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Slug(serializers.SlugField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Int(serializers.IntegerField):
    """A JSON integer: neither "30" nor 30.5 nor true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class Bool(serializers.BooleanField):
    """A JSON true or false: neither "yes" nor 1 is taken for one."""

    def to_internal_value(self, data: object) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class Password(Text):
    """Step-up for a browser-session caller: the password again (a token needs none)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("max_length", 4096)
        kwargs.setdefault(
            "help_text", "browser-session callers: your password again (a token needs none)"
        )
        super().__init__(**kwargs)


class StepUpIn(serializers.Serializer):
    """How a browser-session caller confirms it is them: one of these (identity/stepup.py)."""

    password = Password()
    totp = Text(required=False, max_length=20, help_text="a code of your authenticator app")
    recovery_code = Text(required=False, max_length=40, help_text="one of your recovery codes")
    challenge = Text(
        required=False, max_length=2000, help_text="from POST /api/v1/step-up/challenge/"
    )
    passkey = serializers.JSONField(
        required=False, help_text="the passkey's assertion (PublicKeyCredential as JSON)"
    )
    provider_proof = Text(
        required=False, max_length=64, help_text="from the identity provider's re-authentication"
    )

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("write_only", True)
        super().__init__(**kwargs)


class StrictInput(serializers.Serializer):
    """Unknown fields are refused, so a typo never passes for a default."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["unknown field"] for k in unknown})
        return super().to_internal_value(data)


class TargetOut(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.CharField()
    active = serializers.BooleanField()
    address = serializers.CharField()
    region = serializers.CharField()
    identity_profile = serializers.DictField()
    data_residency_region = serializers.CharField()


RECORD_VALUES = serializers.DictField(
    child=serializers.ListField(child=serializers.CharField()),
    help_text="the record's values on each target, by target name",
)


class RecordOut(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(source="rtype")
    ttl = serializers.IntegerField()
    routing = serializers.CharField()
    set_identifier = serializers.CharField()
    segment = serializers.CharField()
    provider_account = serializers.CharField(source="provider_account.name")
    zone = serializers.CharField()
    values = serializers.SerializerMethodField()

    @extend_schema_field(RECORD_VALUES)
    def get_values(self, record) -> dict:
        return {v.target.name: list(v.values) for v in record.values.all()}


class ThresholdOut(serializers.Serializer):
    metric = serializers.CharField()
    comparison = serializers.CharField()
    value = serializers.FloatField()
    description = serializers.CharField()


class ChainGroupOut(serializers.Serializer):
    name = serializers.CharField()
    members = serializers.ListField(child=serializers.CharField())

    def to_representation(self, instance):
        name, members = instance  # ChainEntry.groups holds (name, members) pairs
        return super().to_representation({"name": name, "members": members})


class ChainEntryOut(serializers.Serializer):
    authority = serializers.CharField()
    label = serializers.CharField()
    required = serializers.BooleanField()
    groups = ChainGroupOut(many=True)
    users = serializers.ListField(child=serializers.CharField())
    holders = serializers.ListField(child=serializers.CharField())


class AuthorityChainOut(serializers.Serializer):
    service = serializers.CharField()
    complete = serializers.BooleanField()
    missing = serializers.ListField(child=serializers.CharField())
    authorities = ChainEntryOut(many=True, source="entries")


class TimingsOut(serializers.Serializer):
    """Seconds from the declaration (null: not reached): approvals/timings.py."""

    roles = serializers.DictField(
        child=serializers.FloatField(), help_text="role -> seconds to its first decision"
    )
    quorum = serializers.FloatField(allow_null=True)
    applied = serializers.FloatField(allow_null=True)
    verified = serializers.FloatField(allow_null=True)


class LastDrillOut(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    declared_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = TimingsOut()


class ServiceOut(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    governance_mode = serializers.ChoiceField(choices=GovernanceMode.choices)
    data_residency_region = serializers.CharField()
    customer_segments = serializers.ListField(child=serializers.CharField())
    chain_complete = serializers.BooleanField(source="chain.complete")
    chain_missing = serializers.ListField(child=serializers.CharField(), source="chain.missing")
    your_authorities = serializers.ListField(child=serializers.CharField())
    targets = TargetOut(many=True)
    records = RecordOut(many=True)
    thresholds = ThresholdOut(many=True)
    last_drill = LastDrillOut(
        allow_null=True, help_text="the service's latest drill and how fast each team decided"
    )


class ServiceIn(StrictInput):
    slug = Slug(max_length=80)
    name = Text(max_length=200)
    description = Text(required=False, allow_blank=True, default="")
    governance_mode = serializers.ChoiceField(
        choices=GovernanceMode.choices, default=GovernanceMode.DUAL_APPROVAL
    )
    data_residency_region = Text(max_length=50, required=False, allow_blank=True, default="")
    customer_segments = serializers.ListField(
        child=Text(max_length=80), required=False, default=list
    )


class MissingOut(serializers.Serializer):
    role = serializers.CharField()
    authority = serializers.CharField()
    needed = serializers.IntegerField()
    have = serializers.IntegerField()


@functools.cache
def bound(serializer: type[serializers.Serializer]) -> serializers.ListSerializer:
    """One list serializer of `serializer`, its fields bound once for every call: binding
    deep-copies every declared field, which for a request's answer cost more than writing it.
    Only for output serializers that read nothing from a context (they hold no state)."""
    return cast(serializers.ListSerializer, serializer(many=True))


class BlockOut(serializers.Serializer):
    code = serializers.CharField()
    reason = serializers.CharField()
    decision_id = serializers.IntegerField(allow_null=True)
    check_id = serializers.IntegerField(allow_null=True, help_text="the failing readiness check")


class ReadinessCheckOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["tls", "identity_provider", "secrets", "health"])
    ok = serializers.BooleanField()
    identity_critical = serializers.BooleanField()
    system_veto = serializers.BooleanField(
        source="is_system_veto", help_text="failing, identity-critical, not lifted"
    )
    reason = serializers.CharField()
    details = serializers.DictField()
    checked_at = serializers.DateTimeField()
    lifted_by = serializers.CharField(source="lifted_by.username", allow_null=True)
    lift_reason = serializers.CharField()
    lifted_at = serializers.DateTimeField(allow_null=True)


class ReadinessOut(serializers.Serializer):
    latest = ReadinessCheckOut(many=True, help_text="the latest check of each kind")
    history = ReadinessCheckOut(many=True, help_text="every check, newest first")
    required_secrets = serializers.ListField(child=serializers.CharField())


class LiftSystemVetoIn(StrictInput):
    check_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    reason = Text(max_length=2000)
    password = Password()
    step_up = StepUpIn()


class SecretAttestationIn(StrictInput):
    secret_name = Text(max_length=200)
    rotated_at = serializers.DateTimeField()
    comment = Text(max_length=2000, required=False, allow_blank=True, default="")
    password = Password()
    step_up = StepUpIn()


class ReadinessRunOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=["queued"])
    message = serializers.CharField()


class SecretAttestationOut(serializers.Serializer):
    id = serializers.IntegerField()
    target = serializers.CharField(source="target.name")
    secret_name = serializers.CharField()
    rotated_at = serializers.DateTimeField()
    attested_by = serializers.CharField(source="attested_by.username")
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()


class DecisionRowOut(serializers.Serializer):
    """A decision as it was made; `DecisionOut` adds whether the verdict counts it now."""

    id = serializers.IntegerField()
    actor = serializers.CharField(source="actor.username")
    kind = serializers.CharField()
    role = serializers.CharField()
    plan_hash = serializers.CharField()
    comment = serializers.CharField()
    channel = serializers.CharField()
    lifts = serializers.IntegerField(source="lifts_id", allow_null=True)
    created_at = serializers.DateTimeField()


class DecisionOut(DecisionRowOut):
    counts = serializers.BooleanField(read_only=True, help_text="counts towards the approvals now")


class DecisionPreviewOut(serializers.Serializer):
    kind = serializers.CharField()
    role = serializers.CharField()
    executes_now = serializers.BooleanField()
    message = serializers.CharField()
    plan_hash = serializers.CharField()
    records = serializers.ListField(
        child=serializers.DictField(), help_text="the records that would change, when it executes"
    )


class ChangeOut(serializers.Serializer):
    id = serializers.IntegerField()
    direction = serializers.CharField()
    provider_account = serializers.CharField(source="provider_account.name")
    zone = serializers.CharField()
    status = serializers.CharField()
    provider_change_id = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    records = serializers.ListField(child=serializers.DictField(), source="changes")
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    insync_at = serializers.DateTimeField(allow_null=True)
    verified_at = serializers.DateTimeField(allow_null=True)


class RollbackCheckOut(serializers.Serializer):
    due_at = serializers.DateTimeField()
    evaluated_at = serializers.DateTimeField(allow_null=True)
    met = serializers.BooleanField(allow_null=True)
    result = serializers.DictField()


class FailoverRequestOut(serializers.Serializer):
    """A request row with `verdict`, `gate` (approvals.gate's answer now) and
    `latest_readiness` set by the view."""

    id = serializers.IntegerField()
    service = serializers.CharField(source="service.slug")
    target = serializers.CharField(source="to_target.name")
    from_target = serializers.CharField(source="from_target.name")
    segment = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField()
    incident_ref = serializers.CharField()
    drill = serializers.BooleanField(help_text="a rehearsal on the drill records")
    requester = serializers.CharField(source="requester.username")
    rollback_criteria = serializers.DictField()
    plan = serializers.DictField()
    plan_hash = serializers.CharField()
    drift = serializers.ListField(
        child=serializers.CharField(),
        source="gate.drift",
        help_text="what changed in the registry (governed records, target identity, residency, "
        "address) since the plan, in words; while not empty the plan does not go out: a "
        "`declare` holder re-plans (POST …/replan/). Empty once the request is past execution",
    )
    missing = MissingOut(many=True, source="verdict.missing")
    blocked_by = serializers.SerializerMethodField()
    readiness = ReadinessCheckOut(
        many=True, source="latest_readiness", help_text="the latest readiness check per kind"
    )
    auth_changes = serializers.ListField(
        child=serializers.CharField(), source="verdict.auth_changes"
    )
    preapproved_by = serializers.SerializerMethodField(
        help_text="the breach that pre-approves the request, when one does"
    )
    may_execute = serializers.BooleanField(source="gate.ok")
    approvals_expire_at = serializers.DateTimeField(
        source="verdict.approvals_expire_at", allow_null=True
    )
    decisions = serializers.SerializerMethodField()
    changes = ChangeOut(many=True)
    rollback_checks = RollbackCheckOut(many=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)
    applied_at = serializers.DateTimeField(allow_null=True)
    rollback_proposed_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    timings = serializers.SerializerMethodField(
        help_text="seconds from the declaration to each role's first decision, to quorum, "
        "applied and verified (drills and real requests alike)"
    )

    @extend_schema_field(TimingsOut)
    def get_timings(self, obj: FailoverRequest) -> dict:
        # From the decisions and changes the view prefetched: no query of its own.
        return timings_of(obj, obj.decisions.all(), obj.changes.all())

    @extend_schema_field(BlockOut(many=True))
    def get_blocked_by(self, obj) -> list:
        # The verdict's blocks, then the gate's: the registry changed since the plan.
        drifted = [
            {
                "code": "registry_changed",
                "reason": f"the registry changed since the plan: {d}",
                "decision_id": None,
                "check_id": None,
            }
            for d in obj.gate.drift
        ]
        blocks = [*obj.verdict.blocked_by, *drifted]
        return bound(BlockOut).to_representation(blocks)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_preapproved_by(self, obj) -> str | None:
        return obj.verdict.breach.description if obj.verdict.preapproved else None

    @extend_schema_field(DecisionOut(many=True))
    def get_decisions(self, obj) -> list:
        counted, decisions = obj.verdict.counted, obj.decisions.all()
        rows = bound(DecisionRowOut).to_representation(decisions)
        return [{**row, "counts": d.pk in counted} for d, row in zip(decisions, rows, strict=True)]


class RollbackCriteriaIn(StrictInput):
    min_minutes_on_target = Int(
        required=False,
        min_value=LIMITS["min_minutes_on_target"][0],
        max_value=LIMITS["min_minutes_on_target"][1],
    )
    primary_healthy_minutes = Int(
        required=False,
        min_value=LIMITS["primary_healthy_minutes"][0],
        max_value=LIMITS["primary_healthy_minutes"][1],
    )
    decide_within_minutes = Int(
        required=False,
        min_value=LIMITS["decide_within_minutes"][0],
        max_value=LIMITS["decide_within_minutes"][1],
    )
    notes = Text(required=False, allow_blank=True)


class DeclareIn(StrictInput):
    service = Slug()
    target = Text(max_length=80)
    reason = Text(max_length=5000)
    incident_ref = Text(max_length=200, required=False, allow_blank=True, default="")
    segment = Text(max_length=80, required=False, allow_blank=True, default="")
    rollback_criteria = RollbackCriteriaIn(required=False, default=dict)
    drill = Bool(
        required=False,
        default=False,
        help_text="a rehearsal: the same people, checks and provider path, on the service's "
        "drill records (`failover-drill.<record>`), never its traffic; put back automatically "
        "once verified. Refused while a real request of the service is active",
    )


class DecisionIn(StrictInput):
    kind = serializers.ChoiceField(choices=Decision.Kind.choices)
    role = serializers.ChoiceField(
        choices=list(ROLE_AUTHORITY), required=False, allow_blank=True, default=""
    )
    plan_hash = Text(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="the plan you reviewed",
    )
    comment = Text(max_length=5000, required=False, allow_blank=True, default="")
    veto_id = Int(
        required=False,
        allow_null=True,
        default=None,
        help_text="which veto to lift, when several stand",
    )
    password = Password()
    step_up = StepUpIn()


class ReasonIn(StrictInput):
    reason = Text(max_length=5000, required=False, allow_blank=True, default="")
    password = Password()
    step_up = StepUpIn()


class AuditEventOut(serializers.Serializer):
    seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    data = serializers.JSONField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class NothingIn(StrictInput):
    """A POST that takes no input: no body, or {} (anything else is a 400, not ignored)."""


class AuditVerificationOut(serializers.Serializer):
    """A verification of the whole audit chain, run by a worker (audit/jobs.py)."""

    id = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="poll this until `state` is done or failed")
    state = serializers.ChoiceField(
        choices=["queued", "running", "done", "failed"],
        help_text="failed: the job could not finish (see reason), not a verdict on the chain",
    )
    requested_by = serializers.CharField()
    requested_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    total = serializers.IntegerField(allow_null=True, help_text="events when it started")
    verified = serializers.IntegerField(help_text="events verified so far (updated every second)")
    ok = serializers.BooleanField(allow_null=True, help_text="the verdict; null until done")
    first_broken_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    checkpoints = serializers.DictField(help_text="what the signed checkpoints said, when checked")

    @extend_schema_field(serializers.URLField())
    def get_url(self, job) -> str:
        path = reverse("audit-verification-detail", args=[job.pk])
        return self.context["request"].build_absolute_uri(path)


class AuditVerifyLatestOut(AuditVerificationOut):
    hint = serializers.SerializerMethodField(help_text="how to verify the chain as it is now")

    def get_hint(self, job) -> str:
        return (
            f"the chain as it was when this verification ran ({job.verified} events, finished "
            f"{job.finished_at.isoformat()}); POST /api/v1/audit-events/verify/ verifies it as "
            "it is now"
        )


# Errors: {"error": {"code", "message", ...details}} (errors.py). Each status family declares
# the details it can carry; a detail is there only when it applies.
class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="machine-readable, e.g. not_found, token_scope")
    message = serializers.CharField(help_text="for a person")


class InvalidBody(ErrorBody):
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="what is wrong with each input field, by (dotted) field name",
    )


class ForbiddenBody(ErrorBody):
    authority = serializers.CharField(
        required=False, help_text="the authority the caller lacks on the service"
    )
    renew_url = serializers.URLField(
        required=False, help_text="step_up_stale: where the token's person renews its step-up"
    )
    step_up_url = serializers.URLField(
        required=False, help_text="step_up_stale: the API route that renews it"
    )
    stepped_up_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="step_up_stale: the token's last step-up"
    )


class ConflictBody(ErrorBody):
    current_plan_hash = serializers.CharField(
        required=False, help_text="plan_changed: the plan to review before deciding again"
    )
    state = serializers.CharField(required=False, help_text="wrong_state: the request's state")
    request_id = serializers.IntegerField(
        required=False, help_text="declaring: the service's active request, to act on or cancel"
    )
    reasons = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="blocked: what blocks it"
    )
    missing = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="incomplete_chain: the authorities nobody holds",
    )


class ThrottledBody(ErrorBody):
    limit = serializers.CharField(help_text="the limit exceeded, e.g. user (1200/min)")
    retry_after = serializers.IntegerField(
        allow_null=True, help_text="seconds to wait, as in the Retry-After header"
    )


class ErrorOut(serializers.Serializer):
    error = ErrorBody()


class InvalidOut(serializers.Serializer):
    error = InvalidBody()


class ForbiddenOut(serializers.Serializer):
    error = ForbiddenBody()


class ConflictOut(serializers.Serializer):
    error = ConflictBody()


class ThrottledOut(serializers.Serializer):
    error = ThrottledBody()


METRICS = Metric.values
