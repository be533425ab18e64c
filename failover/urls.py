from django.contrib import admin
from django.urls import include, path

from failover.views import healthz

admin.site.site_header = "Failover approvals"
admin.site.site_title = "Failover approvals"
admin.site.index_title = "Governance console"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/integrations/", include("failover.intake.urls")),
    path("api/", include("failover.api.urls")),
    # The browser views: dashboard at "/", login/, logout/, services/, declare/, requests/.
    path("", include("failover.web.urls")),
]

handler404 = "failover.views.not_found"
handler500 = "failover.views.server_error"
