"""Each person's own settings for the desk."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from backoffice.forms import PreferencesForm
from backoffice.models import Preferences
from payments.money import format_typed, money_locale


@require_http_methods(["GET", "POST"])
def preferences(request):
    """How the person writes and reads amounts (MONEY_LOCALE until they choose). Anybody
    logged in may set their own."""
    chosen = Preferences.objects.filter(user=request.user).values_list("money_locale", flat=True).first()
    form = PreferencesForm(request.POST if request.method == "POST" else None, initial={"money_locale": chosen or ""})
    if request.method == "POST" and form.is_valid():
        locale = form.cleaned_data["money_locale"]
        Preferences.objects.update_or_create(user=request.user, defaults={"money_locale": locale})
        with money_locale(locale):
            messages.success(request, f"Saved: you write amounts like {format_typed(123450, 'EUR')} now.")
        return redirect("preferences")
    return render(request, "backoffice/preferences.html", {"form": form}, status=422 if form.errors else 200)
