"""What each person sets for their own desk."""

from django.conf import settings
from django.db import models

from payments.money import MONEY_LOCALES


class Preferences(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="desk_preferences"
    )
    # How the person writes and reads amounts; blank: MONEY_LOCALE.
    money_locale = models.CharField(
        "amounts", max_length=16, blank=True, choices=[("", "The default"), *MONEY_LOCALES.items()]
    )

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self):
        return f"Preferences of {self.user}"
