"""Run one refund in a process of its own, so that a test can kill it mid-call.

    python tests/guarantees/refund_in_subprocess.py PAYMENT_ID AMOUNT
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from payments.services.audit import Actor  # noqa: E402
from payments.services.ledger import new_idempotency_key  # noqa: E402
from payments.services.refunds import refund_request  # noqa: E402

refund_request(
    payment_id=int(sys.argv[1]),
    amount=int(sys.argv[2]),
    reason="customer_request",
    actor=Actor.system("subprocess"),
    idempotency_key=new_idempotency_key(),
)
