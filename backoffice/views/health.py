from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.http import require_GET


@login_not_required
@require_GET
def healthz(request):
    """For load balancers: the app answers. Touches nothing else, not even the database."""
    return HttpResponse("ok", content_type="text/plain")
