from __future__ import annotations

from django.contrib.auth import views as auth_views

from failover.web.signin_throttle import ThrottledAuthenticationForm


class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True
    next_page = "dashboard"

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
