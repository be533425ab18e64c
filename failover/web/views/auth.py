from __future__ import annotations

from django.contrib.auth import views as auth_views


class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    next_page = "dashboard"

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400  # a wrong password is bad input, said so on the form
        return response


class SignOutView(auth_views.LogoutView):
    next_page = "login"
