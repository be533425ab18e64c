"""What the request page shows of break-glass: the link to break it, its uses, and the
rollback its time box allows. Reads only; the services layer stays the gate."""

from __future__ import annotations

from django import template

from approvals.breakglass import may_break_glass, uses_for
from approvals.selectors import live_grant
from failover.chain import holds
from failover.states import State

register = template.Library()


@register.simple_tag(takes_context=True)
def break_glass_of(context, request_obj) -> dict:
    user = context["user"]
    grant = live_grant(user, request_obj)
    return {
        "may_break": may_break_glass(user, request_obj),
        "uses": list(
            uses_for(user, service_ids={request_obj.service_id}).filter(request=request_obj)
        ),
        # The grant's rollback, for a user who does not hold `rollback` anyway (then the
        # ordinary action is offered).
        "rollback_grant": grant
        if grant
        and request_obj.state == State.APPLIED
        and not holds(user, request_obj.service, "rollback")
        else None,
    }
