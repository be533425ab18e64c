from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from failover.api.views import AuditEventViewSet, FailoverRequestViewSet, ServiceViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("services", ServiceViewSet, basename="service")
router.register("failover-requests", FailoverRequestViewSet, basename="failover-request")
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
