from django.contrib import admin

from audit.admin_mixins import AuditedAdminMixin
from dnsproviders.models import ProviderAccount


@admin.register(ProviderAccount)
class ProviderAccountAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "description")
    list_filter = ("kind",)
    search_fields = ("name", "description")
