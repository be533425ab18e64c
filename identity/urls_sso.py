"""URLs of sso (included by identity/urls.py at the site root)."""

from django.urls import path

from identity.views import reauth, sso

urlpatterns = [
    path("oidc/authenticate/", sso.SignInView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("step-up/provider/", reauth.start, name="identity-provider-step-up"),
    path(
        "step-up/provider/callback/",
        reauth.callback,
        name="identity-provider-step-up-callback",
    ),
]
