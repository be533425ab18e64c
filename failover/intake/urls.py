"""Mounted at /api/v1/integrations/. Select an integration with `?integration=<name>` when
several of one kind exist; otherwise the only active one of the kind is used."""

from django.urls import path

from failover.intake import views

urlpatterns = [
    path("pagerduty/", views.PagerDutyView.as_view(), name="intake-pagerduty"),
    path("alertmanager/", views.AlertmanagerView.as_view(), name="intake-alertmanager"),
    path("opsgenie/", views.OpsgenieView.as_view(), name="intake-opsgenie"),
]
