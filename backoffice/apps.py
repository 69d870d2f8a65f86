from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        from backoffice import logins  # noqa: F401  (connects the login audit receivers)


class AuditAdminConfig(AdminConfig):
    default_site = "backoffice.admin_site.AuditAdminSite"
