"""Shapes of the API: what it reads (output) and what it accepts (input). No rules here."""

from __future__ import annotations

from rest_framework import serializers

from approvals.models import Decision
from failover.authorities import ROLE_AUTHORITY
from failover.models import GovernanceMode, Metric


class TargetOut(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.CharField()
    active = serializers.BooleanField()
    address = serializers.CharField()
    region = serializers.CharField()
    identity_profile = serializers.DictField()
    data_residency_region = serializers.CharField()


class RecordOut(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    ttl = serializers.IntegerField()
    routing = serializers.CharField()
    set_identifier = serializers.CharField()
    segment = serializers.CharField()
    provider_account = serializers.CharField()
    zone = serializers.CharField()
    values = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ThresholdOut(serializers.Serializer):
    metric = serializers.CharField()
    comparison = serializers.CharField()
    value = serializers.FloatField()
    description = serializers.CharField()


class ChainGroupOut(serializers.Serializer):
    name = serializers.CharField()
    members = serializers.ListField(child=serializers.CharField())


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
    authorities = ChainEntryOut(many=True)


class ServiceOut(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    governance_mode = serializers.ChoiceField(choices=GovernanceMode.choices)
    data_residency_region = serializers.CharField()
    customer_segments = serializers.ListField(child=serializers.CharField())
    chain_complete = serializers.BooleanField()
    chain_missing = serializers.ListField(child=serializers.CharField())
    your_authorities = serializers.ListField(child=serializers.CharField())
    targets = TargetOut(many=True)
    records = RecordOut(many=True)
    thresholds = ThresholdOut(many=True)


class ServiceIn(serializers.Serializer):
    slug = serializers.SlugField(max_length=80)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    governance_mode = serializers.ChoiceField(
        choices=GovernanceMode.choices, default=GovernanceMode.DUAL_APPROVAL
    )
    data_residency_region = serializers.CharField(
        max_length=50, required=False, allow_blank=True, default=""
    )
    customer_segments = serializers.ListField(
        child=serializers.CharField(max_length=80), required=False, default=list
    )


class MissingOut(serializers.Serializer):
    role = serializers.CharField()
    authority = serializers.CharField()
    needed = serializers.IntegerField()
    have = serializers.IntegerField()


class BlockOut(serializers.Serializer):
    code = serializers.CharField()
    reason = serializers.CharField()
    decision_id = serializers.IntegerField(allow_null=True)


class DecisionOut(serializers.Serializer):
    id = serializers.IntegerField()
    actor = serializers.CharField()
    kind = serializers.CharField()
    role = serializers.CharField()
    plan_hash = serializers.CharField()
    comment = serializers.CharField()
    channel = serializers.CharField()
    lifts = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    counts = serializers.BooleanField()


class ChangeOut(serializers.Serializer):
    id = serializers.IntegerField()
    direction = serializers.CharField()
    provider_account = serializers.CharField()
    zone = serializers.CharField()
    status = serializers.CharField()
    provider_change_id = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField()
    records = serializers.ListField(child=serializers.DictField())
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
    id = serializers.IntegerField()
    service = serializers.CharField()
    target = serializers.CharField()
    from_target = serializers.CharField()
    segment = serializers.CharField()
    state = serializers.CharField()
    reason = serializers.CharField()
    incident_ref = serializers.CharField()
    requester = serializers.CharField()
    rollback_criteria = serializers.DictField()
    plan = serializers.DictField()
    plan_hash = serializers.CharField()
    missing = MissingOut(many=True)
    blocked_by = BlockOut(many=True)
    auth_changes = serializers.ListField(child=serializers.CharField())
    preapproved_by = serializers.CharField(allow_null=True)
    may_execute = serializers.BooleanField()
    approvals_expire_at = serializers.DateTimeField(allow_null=True)
    decisions = DecisionOut(many=True)
    changes = ChangeOut(many=True)
    rollback_checks = RollbackCheckOut(many=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)
    applied_at = serializers.DateTimeField(allow_null=True)
    rollback_proposed_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class RollbackCriteriaIn(serializers.Serializer):
    min_minutes_on_target = serializers.IntegerField(required=False)
    primary_healthy_minutes = serializers.IntegerField(required=False)
    decide_within_minutes = serializers.IntegerField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True)


class DeclareIn(serializers.Serializer):
    service = serializers.SlugField()
    target = serializers.CharField(max_length=80)
    reason = serializers.CharField(max_length=5000)
    incident_ref = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    segment = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    rollback_criteria = serializers.DictField(
        required=False, default=dict, help_text="see RollbackCriteriaIn"
    )


class DecisionIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Decision.Kind.choices)
    role = serializers.ChoiceField(
        choices=list(ROLE_AUTHORITY), required=False, allow_blank=True, default=""
    )
    plan_hash = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="the plan you reviewed",
    )
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    veto_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="which veto to lift, when several stand",
    )


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


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


class VerifyOut(serializers.Serializer):
    ok = serializers.BooleanField()
    verified = serializers.IntegerField()
    first_broken_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()


class ErrorBody(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorOut(serializers.Serializer):
    error = ErrorBody()


METRICS = Metric.values
