"""The admin for staff: accounts, the site groups and the app's rows.

In Bugsift, staff (``is_staff``) hold every site permission (triage/permissions.py), so in the
admin they may see and manage Users, Groups and the app's models without also being given Django
model permissions one by one (a staff account used to see "You don't have permission to view or
edit anything"). What stays with superusers: making someone a superuser, granting single
permissions, and changing a superuser's account. Read-only admins (labels, reports) stay read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group


def is_active_staff(request) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff)


class StaffAdminMixin:
    """Staff may view, add, change and delete; a subclass's own refusals still win (put it first)."""

    def has_module_permission(self, request):
        return is_active_staff(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_active_staff(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return is_active_staff(request) or super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_active_staff(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_active_staff(request) or super().has_delete_permission(request, obj)


class StaffViewDeleteMixin:
    """Staff may look at and delete rows, as for django-axes' lockouts; adding and changing stay as
    the admin class says."""

    def has_module_permission(self, request):
        return is_active_staff(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_active_staff(request) or super().has_view_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_active_staff(request) or super().has_delete_permission(request, obj)


class StaffModelAdmin(StaffAdminMixin, admin.ModelAdmin):
    pass


class StaffTabularInline(StaffAdminMixin, admin.TabularInline):
    pass


class AccountAdmin(StaffAdminMixin, UserAdmin):
    """Users. Staff who are not superusers cannot make superusers, grant single permissions or
    touch a superuser's account."""

    def _superuser_only(self, request, obj) -> bool:
        return not request.user.is_superuser and obj is not None and obj.is_superuser

    def has_change_permission(self, request, obj=None):
        if self._superuser_only(request, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if self._superuser_only(request, obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields


class SiteGroupAdmin(StaffAdminMixin, GroupAdmin):
    """Groups: the site groups (curator, researcher, triage/permissions.py) and their members.
    Their permissions are set by `manage.py site_group`; only superusers change them here."""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("permissions")
        return fields


def _register(model, model_admin) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)


_register(get_user_model(), AccountAdmin)
_register(Group, SiteGroupAdmin)

# django-axes' lockouts (Access attempts): staff lift a lock by deleting its row (docs/deploy.md).
# Its admin is registered before ours (INSTALLED_APPS order); give it the staff rights too.
for _model, _admin in list(admin.site._registry.items()):
    if _model._meta.app_label == "axes" and not isinstance(_admin, StaffViewDeleteMixin):
        _register(_model, type(type(_admin).__name__, (StaffViewDeleteMixin, type(_admin)), {}))
