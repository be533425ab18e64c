from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from failover.api.breakglass import BreakGlassViewSet, RequestBreakGlassView
from failover.api.docs import docs_view
from failover.api.insights import InsightsView
from failover.api.replan import FailoverRequests
from failover.api.report import RequestReportView
from failover.api.stepup_challenge import StepUpChallengeView
from failover.api.tokens import CurrentTokenView, TokenStepUpView
from failover.api.views import AuditEventViewSet, AuditVerificationViewSet, ServiceViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# No `.json/` twins: the actions take no `format` argument (a 500 on any body), and JSON is
# the only representation anyway.
router.include_format_suffixes = False
router.register("services", ServiceViewSet, basename="service")
router.register("failover-requests", FailoverRequests, basename="failover-request")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("audit-verifications", AuditVerificationViewSet, basename="audit-verification")
router.register("break-glass", BreakGlassViewSet, basename="break-glass")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("v1/failover-requests/<int:pk>/report/", RequestReportView.as_view()),
    path("v1/failover-requests/<int:pk>/break-glass/", RequestBreakGlassView.as_view()),
    path("v1/insights/", InsightsView.as_view(), name="api-insights"),
    path("v1/tokens/current/", CurrentTokenView.as_view(), name="api-token-current"),
    path("v1/tokens/current/step-up/", TokenStepUpView.as_view(), name="api-token-step-up"),
    path("v1/step-up/challenge/", StepUpChallengeView.as_view(), name="api-step-up-challenge"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs_view(), name="api-docs"),
]
