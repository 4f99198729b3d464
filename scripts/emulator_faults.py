"""Faults the emulator injects for tests of what the system does when a provider fails for a
while (set with CLINIC_EMULATOR_FAULTS; see `faults`). Imported by scripts/emulator.py."""

from __future__ import annotations

import os
import threading
import time
from typing import Any


# The requests a fault file can make fail: the handler's method, and the throttling error AWS
# answers with (SES v2 is REST-JSON, answered 429 with the error type; SNS is serialised from
# its service model).
FAULTABLE = {
    "sesv2:SendEmail": ("moto.sesv2.responses", "SESV2Response", "send_email"),
    "sns:Publish": ("moto.sns.responses", "SNSResponse", "publish"),
    "dynamodb:TransactWriteItems": (
        "moto.dynamodb.responses",
        "DynamoHandler",
        "transact_write_items",
    ),
}


def injected_error(key: str, handler: Any) -> Exception:
    if key == "dynamodb:TransactWriteItems":
        return conflicting(handler)
    return throttled(key)


def conflicting(handler: Any) -> Exception:
    """What DynamoDB answers when another transaction holds the items: the transaction is
    cancelled with a `TransactionConflict` reason for each item."""
    import json

    from moto.dynamodb.exceptions import TransactionCanceledException

    try:
        count = len(json.loads(handler.body).get("TransactItems", [])) or 1
    except (TypeError, ValueError, AttributeError):
        count = 1
    reason = ("TransactionConflict", "Transaction is ongoing for the item (fault injected)", None)
    return TransactionCanceledException([reason] * count)


def throttled(key: str) -> Exception:
    message = "Rate exceeded (fault injected)"
    if key.startswith("sesv2:"):
        from moto.core.exceptions import JsonRESTError

        error = JsonRESTError("TooManyRequestsException", message)
        error.code = 429
        return error
    # Serialised with the model of the service its module belongs to.
    from moto.sns.exceptions import SNSException

    return SNSException("Throttled", message)


def faults(path: str) -> None:
    """Faults for tests of what the system does when a provider fails for a while: `path` holds
    `{"<service>:<Action>": <until, Unix seconds> or {"times": <n>}, ...}` (`sesv2:SendEmail`,
    `sns:Publish`, and `sns:Publish:sms` for text messages only, answered with the provider's
    throttling error; `dynamodb:TransactWriteItems`, cancelled as by a concurrent transaction).
    Until that time, or for the next n such requests, the request fails, and each failure is
    appended (one line, the key) to `<path>.injected`. The file is read again when it changes, so
    a test turns faults on and off by rewriting it; a missing or unreadable file injects
    nothing."""
    import importlib
    import json

    state: dict[str, Any] = {"mtime": None, "until": {}}
    lock = threading.Lock()

    def active(key: str) -> bool:
        with lock:
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                state["mtime"], state["until"] = None, {}
                return False
            if mtime != state["mtime"]:
                try:
                    with open(path, encoding="utf-8") as f:
                        until = json.load(f)
                except (OSError, ValueError):
                    until = {}
                state["mtime"] = mtime
                state["until"] = until if isinstance(until, dict) else {}
            until = state["until"].get(key)
            if isinstance(until, dict):
                times = until.get("times")
                if not isinstance(times, int) or times <= 0:
                    return False
                until["times"] = times - 1
            elif not isinstance(until, (int, float)) or time.time() >= until:
                return False
            with open(path + ".injected", "a", encoding="utf-8") as f:
                f.write(key + "\n")
            return True

    for key, (module, cls, method) in FAULTABLE.items():
        handler = getattr(importlib.import_module(module), cls)
        original = getattr(handler, method)

        def faulty(self: Any, _original: Any = original, _key: str = key) -> Any:
            keys = [_key]
            if _key == "sns:Publish" and self._get_param("PhoneNumber"):
                keys.append("sns:Publish:sms")
            if any(active(k) for k in keys):
                raise injected_error(_key, self)
            return _original(self)

        faulty.__doc__ = original.__doc__
        setattr(handler, method, faulty)
