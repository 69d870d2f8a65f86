"""Running a call to a provider in the background, for tests that act while it is under way
(with the sandbox's `held`, `late_answer` and `timeout` faults and Sandbox.wait_for_held)."""

import threading

from django.db import connections


def in_background(call):
    """Start `call()` in a thread of its own. Returns a function that waits for the call to end
    and gives its result, or raises what it raised. The thread has its own database
    connections (tests that use this need `django_db(transaction=True)`) and closes them."""
    outcome = {}

    def run():
        try:
            outcome["result"] = call()
        except Exception as error:  # handed to the test as it is
            outcome["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def result():
        thread.join(timeout=60)
        assert not thread.is_alive(), "the call did not end"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    return result
