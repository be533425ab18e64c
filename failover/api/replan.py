"""Re-planning over REST: `POST …/replan/` rebuilds the plan from the registry now (a
`declare` holder; approvals of the old plan stop counting). Every request read already says
what changed since its plan (`drift`, from the gate's answer in views.py).

The failover-request viewset is extended here rather than in views.py, so the route and its
token scope live beside the rule they expose; urls.py registers this class.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from failover.api import serializers as s
from failover.api.schema import errors
from failover.api.stepup import require_step_up
from failover.api.views import FailoverRequestViewSet
from failover.services import replan_request
from identity.stepup import carrying


class FailoverRequests(FailoverRequestViewSet):
    # Re-planning is the declarer's act: it proposes a different change.
    token_scopes = {**FailoverRequestViewSet.token_scopes, "replan": "declare"}

    @extend_schema(
        summary="Re-plan from the registry as it is now (needs `declare`)",
        description="Rebuilds the plan from the governed records, the targets and the live "
        "records. A changed plan gets a new `plan_hash`: every approval and sign-off made "
        "against the old one stops counting (an approved request is pending again). An "
        "unchanged plan changes nothing. Answers the request with its current plan.",
        request=s.ReasonIn,
        responses={
            200: s.FailoverRequestOut,
            **errors(400, 401, 403, 404, 409, 422, 429, 503),
        },
        examples=[
            OpenApiExample(
                "replan",
                request_only=True,
                value={"reason": "failover record moved to 203.0.113.50 in the registry"},
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def replan(self, request, pk=None):
        self._must_see(pk)
        data = s.ReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        data = dict(data.validated_data)
        proof = require_step_up(request, "replan", data, target=f"request:{pk}")
        with carrying(proof):
            replan_request(actor=request.user, request_id=int(pk), channel="api", **data)
        return Response(self._one(pk))
