"""A local password's owner changes it (the embedded demo, a break-glass admin). Where local
passwords are off there is nothing to change: people sign in through the provider."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.urls import reverse_lazy

from audit.actions import IDENTITY_PASSWORD_CHANGED
from audit.services import record_event
from identity.stepup import local_passwords_enabled


class PasswordChangeView(LoginRequiredMixin, auth_views.PasswordChangeView):
    template_name = "identity/password_change.html"
    success_url = reverse_lazy("dashboard")

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and not (local_passwords_enabled() and user.has_usable_password()):
            raise Http404("you sign in through your identity provider: no password here")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        record_event(action=IDENTITY_PASSWORD_CHANGED, obj=self.request.user, data={})
        messages.success(self.request, "Your password is changed; other sessions are signed out.")
        return response

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response
