"""URLs of codes (included by identity/urls.py under account/)."""

from django.urls import path

from identity.views import codes

urlpatterns = [
    path("totp/", codes.totp_page, name="account-totp"),
    path("totp/confirm/", codes.totp_confirm, name="account-totp-confirm"),
    path("totp/<int:pk>/remove/", codes.totp_remove, name="account-totp-remove"),
    path("recovery-codes/", codes.recovery_page, name="account-recovery-codes"),
]
