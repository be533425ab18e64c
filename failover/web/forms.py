"""Forms of the browser door. They check shape only (types, lengths, required fields); the
rules live in the services layer, whose refusals are shown on the same form."""

from __future__ import annotations

from django import forms

from approvals.kinds import KINDS, STEP_UP_ACTS
from approvals.readiness.services import MAX_REASON as MAX_READINESS_TEXT
from approvals.services import MAX_COMMENT
from failover.rollback import DEFAULTS, LIMITS
from failover.services import MAX_REASON
from failover.web.actions import ACTS
from identity.stepup import evidence_from


def refuse_not_cut(form: forms.Form) -> None:
    """Text longer than its limit is refused with the limit named (Django's "at most N
    characters (it has M)"), never cut: without this a browser's `maxlength` would stop the
    typing, or cut a paste, silently. The limit is said in the field's help instead."""
    for field in form.fields.values():
        limit = getattr(field, "max_length", None)
        if limit is None or isinstance(field.widget, (forms.HiddenInput, forms.PasswordInput)):
            continue
        field.widget.attrs.pop("maxlength", None)
        said = f"At most {limit} characters."
        field.help_text = f"{field.help_text} {said}".strip() if field.help_text else said


def too_long(value: str, limit: int) -> str | None:
    """The refusal of text over `limit`, worded like Django's own max_length message."""
    if len(value) <= limit:
        return None
    return f"Ensure this value has at most {limit} characters (it has {len(value)})."


# Actions whose text the services keep to a shorter limit than a decision's comment (the
# readiness evidence: a lift's reason, an attestation's comment), as the API does.
SHORTER_TEXT = {"lift_system_veto": MAX_READINESS_TEXT, "attest": MAX_READINESS_TEXT}


def missing_step_up(data) -> str:
    """Nothing confirms the act: a form that offered a password asks for it (no passkey
    answer came either), else for another way."""
    if "password" in data:
        return "enter your password to confirm"
    return "confirm it is you (your passkey, or a code from your authenticator app)"


CRITERIA_FIELDS = ("min_minutes_on_target", "primary_healthy_minutes", "decide_within_minutes")
CRITERIA_LABELS = {
    "min_minutes_on_target": "Stay on the new target at least (minutes)",
    "primary_healthy_minutes": "Primary healthy for (minutes) before moving back",
    "decide_within_minutes": "Decide on rollback within (minutes)",
}


class DeclareForm(forms.Form):
    """Declare a failover. `destinations` is [(service, [target, ...]), ...] of the services
    the viewer may declare on; one select picks service and target together (one tap)."""

    destination = forms.ChoiceField(label="Fail over to")
    segment = forms.ChoiceField(label="Scope", required=False)
    reason = forms.CharField(
        label="Reason",
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What is failing and why moving traffic helps.",
    )
    incident_ref = forms.CharField(
        label="Incident reference", max_length=200, required=False, help_text="e.g. INC-1234."
    )
    notes = forms.CharField(
        label="Rollback notes",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # Only for "declare and execute now" on a pre-approved service (step-up).
    password = forms.CharField(required=False, strip=False, max_length=4096)

    def __init__(self, *args, destinations, **kwargs):
        super().__init__(*args, **kwargs)
        for name in CRITERIA_FIELDS:
            low, high = LIMITS[name]
            self.fields[name] = forms.IntegerField(
                label=CRITERIA_LABELS[name],
                min_value=low,
                max_value=high,
                initial=DEFAULTS[name],
                widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            )
        # The rollback fields read as one group, the free-text notes last.
        self.order_fields(
            [
                "destination",
                "segment",
                "reason",
                "incident_ref",
                *CRITERIA_FIELDS,
                "notes",
                "password",
            ]
        )
        self.services = {service.slug: service for service, _ in destinations}
        self.fields["destination"].choices = [("", "Choose a service and target")] + [
            (
                f"{service.name} ({service.slug})",
                [(f"{service.slug}/{t.name}", _target_label(t)) for t in targets],
            )
            for service, targets in destinations
        ]
        refuse_not_cut(self)
        segments = sorted({s for service, _ in destinations for s in service.customer_segments})
        self.fields["segment"].choices = [("", "All governed records")] + [
            (s, f"Only customer segment {s}") for s in segments
        ]

    def service_and_target(self, value: str | None = None):
        """(service, target name) of the chosen destination, or (None, "") if there is none."""
        value = self.cleaned_data["destination"] if value is None else value
        slug, _, target = (value or "").partition("/")
        return self.services.get(slug), target

    def criteria(self) -> dict:
        data = {name: self.cleaned_data[name] for name in CRITERIA_FIELDS}
        data["notes"] = self.cleaned_data.get("notes", "")
        return data

    def add_service_errors(self, fields: dict[str, str]) -> None:
        """Put the services layer's field errors next to the fields they concern."""
        aliases = {"target": "destination", "service": "destination"}
        for key, message in fields.items():
            name = aliases.get(key, key.removeprefix("rollback_criteria."))
            self.add_error(name if name in self.fields else None, message)


def _target_label(target) -> str:
    # The closed select shows only the option, not its group: name the service in it too.
    where = ", ".join(p for p in (target.region, f"data in {target.data_residency_region}") if p)
    return f"{target.service.name} → {target.name} ({where})"


class ActionForm(forms.Form):
    """One action on a request, posted by a button the page offered (or forged: the services
    layer decides either way)."""

    kind = forms.ChoiceField(choices=[(k, k) for k in ACTS])
    role = forms.CharField(required=False, max_length=30)
    veto_id = forms.IntegerField(required=False, min_value=1)
    plan_hash = forms.CharField(required=False, max_length=64)
    comment = forms.CharField(required=False, max_length=MAX_COMMENT)
    password = forms.CharField(required=False, strip=False, max_length=4096)
    check_id = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    secret_name = forms.CharField(required=False, max_length=200)
    rotated_at = forms.DateTimeField(
        required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
    )

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        limit = SHORTER_TEXT.get(kind or "")
        refusal = limit and too_long(self.cleaned_data.get("comment") or "", limit)
        if refusal:
            self.add_error("comment", refusal)
        needs_reason = kind == "lift_system_veto" or (kind in KINDS and KINDS[kind].needs_comment)
        if needs_reason and not (data.get("comment") or "").strip():
            self.add_error("comment", f"give a reason for the {kind.replace('_', ' ')}")
        if kind == "lift_system_veto" and not data.get("check_id"):
            self.add_error("check_id", "say which check's veto to lift")
        if kind == "attest":
            if not (data.get("secret_name") or "").strip():
                self.add_error("secret_name", "name the secret")
            if not data.get("rotated_at") and "rotated_at" not in self.errors:
                self.add_error("rotated_at", "give the time of the rotation (UTC)")
        if kind in STEP_UP_ACTS and not evidence_from(self.data):
            self.add_error("password", missing_step_up(self.data))
        return data
