from payments.selectors import approvals_waiting_for


def navigation(request):
    """`pending_approvals`: how many refund requests wait for this person's decision. A
    callable, so that the query only runs on pages that show the number."""
    return {"pending_approvals": lambda: approvals_waiting_for(user=request.user).count()}
