from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = "Back office"

    def ready(self):
        from backoffice import logins  # noqa: F401  (connects the login audit receivers)
