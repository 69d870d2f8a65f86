"""The Django admin is the auditors' room: superusers and members of `Auditors` may enter.
Support agents and managers hold view permissions for the desk, and staff status given to one
of them by mistake must not open the whole ledger to them."""

from django.contrib.admin import AdminSite
from django.http import HttpRequest

# Where whether the request's user is an auditor is kept for the rest of the request.
_IS_AUDITOR = "_is_auditor"


class AuditAdminSite(AdminSite):
    site_header = "Back office: audit"
    site_title = "Back office admin"
    # The lists need the width: beside the filters, the sidebar of models left the operations
    # list too narrow for a 1366-pixel screen. The breadcrumbs and the index lead to the models.
    enable_nav_sidebar = False

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not super().has_permission(request):
            return False
        if user.is_superuser:
            return True
        # Asked twice per admin page (the view's guard and the page's context): read once per
        # request, on the request's user.
        is_auditor: bool | None = getattr(user, _IS_AUDITOR, None)
        if is_auditor is None:
            is_auditor = user.groups.filter(name="Auditors").exists()
            setattr(user, _IS_AUDITOR, is_auditor)
        return is_auditor
