"""Every action the audit log records, named once. `record_event` refuses any other name: a
misspelt action would write an event that no reader (the request timeline, the report, the
notifications, an auditor's query) recognises, and the chain cannot be corrected afterwards.

A new action is a constant here, in `ACTIONS` through its section, and its tests.
"""

from __future__ import annotations

# --- failover requests ---------------------------------------------------------------------
REQUEST_DECLARED = "request.declared"
REQUEST_STATE_CHANGED = "request.state_changed"
REQUEST_REPLANNED = "request.replanned"
TARGET_ACTIVATED = "target.activated"

# --- decisions: "decision.<kind>" of every approvals.models.Decision.Kind (tests check both
# lists agree), and the voiding of one whose decider lost the authority ---------------------
DECISION_APPROVE = "decision.approve"
DECISION_VETO = "decision.veto"
DECISION_LIFT_VETO = "decision.lift_veto"
DECISION_SIGN_OFF = "decision.sign_off"
DECISION_REJECT = "decision.reject"
DECISION_VOIDED = "decision.voided"
DECISIONS = frozenset(
    {DECISION_APPROVE, DECISION_VETO, DECISION_LIFT_VETO, DECISION_SIGN_OFF, DECISION_REJECT}
)

# --- break-glass --------------------------------------------------------------------------
BREAK_GLASS_USED = "break_glass.used"
BREAK_GLASS_REVIEWED = "break_glass.reviewed"
BREAK_GLASS_REVIEW_CLOSED = "break_glass.review_closed"

# --- readiness checks ---------------------------------------------------------------------
READINESS_CHECKED = "readiness.checked"
READINESS_REQUESTED = "readiness.requested"
READINESS_SECRET_ATTESTED = "readiness.secret_attested"
READINESS_SYSTEM_VETO_LIFTED = "readiness.system_veto_lifted"

# --- DNS changes (dnsproviders/executor.py) ------------------------------------------------
DNS_PROVIDER_CALL = "dns.provider_call"
DNS_SUBMITTED = "dns.submitted"
DNS_RETRY = "dns.retry"
DNS_RECOVERED = "dns.recovered"
DNS_FAILED = "dns.failed"
DNS_INSYNC = "dns.insync"
DNS_VERIFIED = "dns.verified"

# --- rollback -----------------------------------------------------------------------------
ROLLBACK_STARTED = "rollback.started"
ROLLBACK_CHECKED = "rollback.checked"
ROLLBACK_PROPOSED = "rollback.proposed"
ROLLBACK_DEADLINE_PASSED = "rollback.deadline_passed"

# --- signals and paging-tool intake ---------------------------------------------------------
SIGNAL_RECEIVED = "signal.received"
SIGNAL_RESOLVED = "signal.resolved"
SIGNAL_LINKED = "signal.linked"
INTAKE_DELIVERY_RECEIVED = "intake.delivery_received"
INTAKE_DELIVERY_PROCESSED = "intake.delivery_processed"
INTAKE_SIGNAL_REFUSED = "intake.signal_refused"
INTEGRATION_CREATED = "integration.created"
INTEGRATION_SERVICES_CHANGED = "integration.services_changed"
INTEGRATION_SECRET_ADDED = "integration.secret_added"
INTEGRATION_SECRETS_RETIRED = "integration.secrets_retired"

# --- notifications to people --------------------------------------------------------------
NOTICE_SENT = "notice.sent"
NOTICE_FAILED = "notice.failed"

# --- configuration and authority ----------------------------------------------------------
CONFIG_CREATED = "config.created"
CONFIG_CHANGED = "config.changed"
CONFIG_DELETED = "config.deleted"
# The configuration's events, indexed apart (audit/models.py): a migration names them.
CONFIG_ACTIONS = (CONFIG_CREATED, CONFIG_CHANGED, CONFIG_DELETED)
AUTHORITY_GRANTED = "authority.granted"
AUTHORITY_REVOKED = "authority.revoked"
GROUP_MEMBER_ADDED = "group.member_added"
GROUP_MEMBER_REMOVED = "group.member_removed"
SERVICE_ACCOUNT_CREATED = "service_account.created"
TOKEN_CREATED = "token.created"
TOKEN_REVOKED = "token.revoked"
TOKEN_ROTATED = "token.rotated"
TOKEN_STEPPED_UP = "token.stepped_up"
SECRETS_REENCRYPTED = "secrets.reencrypted"
RETENTION_PURGED = "retention.purged"

# --- signing in and proving who one is ------------------------------------------------------
AUTH_SIGNED_IN = "auth.signed_in"
AUTH_SIGNED_OUT = "auth.signed_out"
AUTH_SIGN_IN_FAILED = "auth.sign_in_failed"
IDENTITY_SIGNED_IN = "identity.signed_in"
IDENTITY_SIGN_IN_REFUSED = "identity.sign_in_refused"
IDENTITY_GROUPS_SYNCED = "identity.groups_synced"
IDENTITY_PROVIDER_REAUTHENTICATED = "identity.provider_reauthenticated"
IDENTITY_PASSWORD_CHANGED = "identity.password_changed"
IDENTITY_PASSKEY_ADDED = "identity.passkey_added"
IDENTITY_PASSKEY_RENAMED = "identity.passkey_renamed"
IDENTITY_PASSKEY_REMOVED = "identity.passkey_removed"
IDENTITY_TOTP_ADDED = "identity.totp_added"
IDENTITY_TOTP_REMOVED = "identity.totp_removed"
IDENTITY_RECOVERY_CODES_GENERATED = "identity.recovery_codes_generated"
IDENTITY_RECOVERY_CODES_USED = "identity.recovery_codes_used"
IDENTITY_CREDENTIALS_RESET_REQUESTED = "identity.credentials_reset_requested"
IDENTITY_CREDENTIALS_RESET = "identity.credentials_reset"
OPERATOR_ACTED_AS = "operator.acted_as"

# --- the audit log's own checks -----------------------------------------------------------
AUDIT_VERIFICATION_STARTED = "audit.verification_started"
AUDIT_VERIFICATION_FINISHED = "audit.verification_finished"

# Every name above (the module's upper-case string constants), so a constant is registered by
# being written, once.
ACTIONS: frozenset[str] = frozenset(
    value
    for name, value in list(globals().items())
    if name.isupper() and isinstance(value, str) and "." in value
)


def decision_action(kind: str) -> str:
    """The action recording a decision of `kind` ("decision.approve")."""
    return f"decision.{kind}"


def decision_kind(action: str) -> str | None:
    """The part after "decision." of a decision event's action ("approve"; "voided" for
    DECISION_VOIDED), or None when `action` records no decision."""
    prefix = decision_action("")
    return action[len(prefix) :] if action.startswith(prefix) else None


def dns_step(action: str) -> str | None:
    """The part after "dns." of a DNS change's action ("submitted"), or None for any other."""
    return action[len("dns.") :] if action.startswith("dns.") else None
