"""The person's own pages and the sign-in flows, mounted at the site root by failover/urls.py."""

from django.urls import include, path

from identity.views.password import PasswordChangeView

urlpatterns = [
    path("", include("identity.urls_sso")),  # oidc/..., step-up/provider/
    path("account/", include("identity.urls_passkeys")),  # security page, passkeys
    path("account/", include("identity.urls_codes")),  # authenticator app, recovery codes
    path("account/", include("identity.urls_tokens")),  # personal API tokens
    path("account/password/", PasswordChangeView.as_view(), name="identity-password"),
]
