from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse

from failover.web.signin_throttle import ThrottledAuthenticationForm
from identity import oidc
from identity.stepup import local_passwords_enabled

PASSWORDS_OFF = (
    "Local passwords are off here: sign in through your organisation's identity provider."
)


def sign_in_options(request) -> dict:
    """What the sign-in page offers: the provider's button, the password form, or both."""
    return {
        "oidc_configured": oidc.configured(),
        "provider_name": oidc.provider_name(),
        "local_passwords": local_passwords_enabled(),
        "oidc_url": reverse("oidc_authentication_init"),
    }


class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True
    next_page = "dashboard"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **sign_in_options(self.request)}

    def post(self, request, *args, **kwargs):
        if not local_passwords_enabled():  # nobody's password is checked, not even a right one
            context = {**sign_in_options(request), "refused": PASSWORDS_OFF, "next": ""}
            return render(request, self.template_name, context, status=403)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.lockout is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.lockout.retry_after)
        else:
            response.status_code = 400  # a wrong password is bad input, said so on the form
        return response


class SignOutView(auth_views.LogoutView):
    next_page = "login"

    def post(self, request, *args, **kwargs):
        provider = oidc.end_session_url(request)  # read before the session is gone
        response = super().post(request, *args, **kwargs)
        return redirect(provider) if provider else response


def admin_login(view):
    """Wrap the admin's login view: with local passwords off, the admin console is reached
    through the provider's sign-in (a person with is_staff), and a password POST is refused."""

    @wraps(view)
    def login(request, extra_context=None):
        if local_passwords_enabled():
            return view(request, extra_context)
        if request.method == "POST":
            context = {**sign_in_options(request), "refused": PASSWORDS_OFF, "next": ""}
            return render(request, "web/login.html", context, status=403)
        target = request.GET.get("next") or reverse("admin:index")
        return redirect(f"{reverse('login')}?{urlencode({'next': target})}")

    return login
