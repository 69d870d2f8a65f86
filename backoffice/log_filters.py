"""What the logs say: the secret in Optty's webhook URL never, a refused request in one line.

Optty authenticates its notifications only by the address we gave it,
/webhooks/optty/<OPTTY_WEBHOOK_SECRET>/ (README, "Registering the webhooks"). Django's request
log ("Not Found: <path>", "Method Not Allowed (GET): <path>", "Internal Server Error:
<path>"), runserver's log and gunicorn's access log all write the path: whoever reads the logs
could send notifications. These filters mask that segment of the path, whatever it holds (a
wrong guess may be an old secret, or the right one mistyped).
"""

import logging
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornBaseLogger

MASK = "********"
SECRET_IN_PATH = re.compile(r"(/webhooks/optty/)[^/\s?#\"']+")


def mask_url_secrets(text: str) -> str:
    """`text` with the secret segment of every Optty webhook path in it masked."""
    return SECRET_IN_PATH.sub(lambda match: match.group(1) + MASK, text)


class MaskUrlSecrets(logging.Filter):
    """Masks the secret of Optty's webhook URL in a record's message. A record of
    django.request also carries the request; for a webhook request it is dropped, since a
    handler such as mail_admins would write its full URL into the report."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_url_secrets(message)
        if masked != message:
            record.msg, record.args = masked, ()
        path = getattr(getattr(record, "request", None), "path", None)
        if isinstance(path, str) and mask_url_secrets(path) != path:
            record.request = None
        return True


class ClientErrorsWithoutTraceback(logging.Filter):
    """A 4xx is an expected answer (not allowed, not found, a bad request), not a fault of the
    back office: Django logs it with the exception that made it, and a traceback per refused
    request would bury the real errors. Such a record keeps its one line (its level is
    Django's: WARNING, ERROR for a suspicious request); a 5xx keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = record.exc_text = record.stack_info = None
        return True


class GunicornLogger(GunicornBaseLogger):
    """gunicorn's logger with the same masking on its error and access logs (whose request
    line holds the path): `gunicorn --logger-class backoffice.log_filters.GunicornLogger`.
    gunicorn configures its own loggers before Django starts, so settings.LOGGING cannot."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, MaskUrlSecrets) for existing in log.filters):
                log.addFilter(MaskUrlSecrets())
