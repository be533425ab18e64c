"""URLs of passkeys and the security page (included by identity/urls.py under account/)."""

from django.urls import path

from identity.views import passkeys, security

urlpatterns = [
    path("security/", security.security_page, name="identity-security"),
    path("passkeys/options/", passkeys.registration_options, name="identity-passkey-options"),
    path("passkeys/add/", passkeys.add_passkey, name="identity-passkey-add"),
    path("passkeys/<int:pk>/rename/", passkeys.rename_passkey, name="identity-passkey-rename"),
    path("passkeys/<int:pk>/remove/", passkeys.remove_passkey, name="identity-passkey-remove"),
    path("step-up/challenge/", passkeys.step_up_challenge, name="identity-step-up-challenge"),
]
