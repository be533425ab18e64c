"""Mounted at /api/v1/integrations/: one door per paging tool, `<kind>/`, named
`intake-<kind>`. Select an integration with `?integration=<name>` when several of one kind
exist; otherwise the only active one of the kind is used."""

from django.urls import path

from failover.intake import tools, views

urlpatterns = [
    path(f"{tool.kind}/", views.view_for(tool).as_view(), name=f"intake-{tool.kind}")
    for tool in tools.TOOLS
]
