from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from failover.views import healthz

admin.site.site_header = "Failover approvals"
admin.site.site_title = "Failover approvals"
admin.site.index_title = "Governance console"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/integrations/", include("failover.intake.urls")),
    path("api/", include("failover.api.urls")),
]

handler404 = "failover.views.not_found"
handler500 = "failover.views.server_error"
