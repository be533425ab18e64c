"""The browser pages, mounted at the site root (admin/, api/ and healthz are routed first)."""

from django.urls import path

from failover.web.views import auth, breakglass, dashboard, declare, insights, requests, services
from failover.web.views import report as report_views

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("live/dashboard/", dashboard.dashboard_live, name="dashboard-live"),
    path("login/", auth.SignInView.as_view(), name="login"),
    path("logout/", auth.SignOutView.as_view(), name="logout"),
    path("services/<slug:slug>/", services.service_page, name="service-page"),
    path("services/<slug:slug>/signals/", services.service_signals, name="service-signals"),
    path("services/<slug:slug>/runbook/", services.service_runbook, name="service-runbook"),
    path(
        "services/<slug:slug>/runbook.md",
        services.service_runbook_markdown,
        name="service-runbook-md",
    ),
    path("insights/", insights.insights_page, name="insights"),
    path("declare/", declare.declare, name="declare"),
    path("declare/plan/", declare.declare_plan, name="declare-plan"),
    path("requests/<int:pk>/", requests.request_page, name="request-page"),
    path("requests/<int:pk>/live/", requests.request_live, name="request-live"),
    # One part each: what pages opened before the one poll per page (request-live) still poll.
    path("requests/<int:pk>/live/status/", requests.request_status, name="request-status"),
    path("requests/<int:pk>/live/actions/", requests.request_actions, name="request-actions"),
    path("requests/<int:pk>/live/record/", requests.request_record, name="request-record"),
    path("requests/<int:pk>/report/", report_views.report_page, name="request-report"),
    path("requests/<int:pk>/report.md", report_views.report_markdown, name="request-report-md"),
    path("requests/<int:pk>/report.json", report_views.report_json, name="request-report-json"),
    path("requests/<int:pk>/break-glass/", breakglass.break_glass_page, name="break-glass"),
    path("break-glass/<int:pk>/review/", breakglass.review_page, name="break-glass-review"),
]
