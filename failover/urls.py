from django.contrib import admin
from django.urls import include, path

from failover.metrics_view import metrics
from failover.views import healthz, readyz
from failover.web.signin_throttle import ThrottledAdminAuthenticationForm
from failover.web.views.auth import admin_login

admin.site.site_header = "Failover approvals"
admin.site.site_title = "Failover approvals"
admin.site.index_title = "Governance console"
admin.site.login_form = ThrottledAdminAuthenticationForm  # the same lockout as the web sign-in
# With LOCAL_PASSWORDS off the admin is reached through SSO; its password form refuses.
admin.site.login = admin_login(admin.site.login)

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/integrations/", include("failover.intake.urls")),
    path("api/", include("failover.api.urls")),
    path("", include("identity.urls")),
    # The browser views: dashboard at "/", login/, logout/, services/, declare/, requests/.
    path("", include("failover.web.urls")),
]

handler404 = "failover.views.not_found"
handler500 = "failover.views.server_error"
