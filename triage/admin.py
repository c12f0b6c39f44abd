"""Admin for reports and imports: read-mostly (imports and the API are the way to change reports)."""

from django.contrib import admin

from config.admin import StaffModelAdmin  # also registers Users and Groups for staff
from triage.models import ImportJob, Report, SourceLabel


class ReadMostlyAdmin(StaffModelAdmin):
    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + [f.name for f in self.model._meta.many_to_many]


@admin.register(Report)
class ReportAdmin(ReadMostlyAdmin):
    list_display = ["source_id", "title", "framework", "kind", "state", "created_at", "updated_at"]
    list_filter = ["kind", "framework", "state"]
    search_fields = ["source_id", "title"]
    date_hierarchy = "created_at"
    list_per_page = 50
    show_full_result_count = False


@admin.register(SourceLabel)
class SourceLabelAdmin(StaffModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(ImportJob)
class ImportJobAdmin(ReadMostlyAdmin):
    list_display = [
        "filename",
        "status",
        "total",
        "created_count",
        "updated_count",
        "unchanged_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["filename", "created_by__username"]
    list_select_related = ["created_by"]
