from django.conf import settings
from django.utils import timezone

# Refresh the session's expiry at most this often: an idle timeout accurate to the minute,
# without writing the session on every request.
REFRESH_EVERY_SECONDS = 60


class SessionIdleTimeoutMiddleware:
    """Sessions end after SESSION_IDLE_MINUTES without a request (SESSION_COOKIE_AGE); each
    request that comes more than a minute after the last refresh pushes the end back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(timezone.now().timestamp())
            last = request.session.get("last_seen", 0)
            if now - last >= REFRESH_EVERY_SECONDS:
                request.session["last_seen"] = now
                request.session.set_expiry(settings.SESSION_COOKIE_AGE)
        return self.get_response(request)
