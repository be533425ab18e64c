"""URLs of tokens (included by identity/urls.py under account/)."""

from django.urls import path

from identity.views import tokens

urlpatterns = [
    path("tokens/", tokens.tokens_page, name="account-tokens"),
    path("tokens/<str:prefix>/rotate/", tokens.rotate, name="account-token-rotate"),
    path("tokens/<str:prefix>/revoke/", tokens.revoke, name="account-token-revoke"),
    path("tokens/<str:prefix>/step-up/", tokens.step_up, name="account-token-step-up"),
]
