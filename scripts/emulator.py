#!/usr/bin/env python3
"""Clinic's local AWS emulator: moto's server (the pinned version in .venv) with corrections that
make it behave like AWS where the project relies on it, and hold up for a working day.

    .venv/bin/python scripts/emulator.py -H 127.0.0.1 -p 4566

Takes moto_server's arguments and starts it the same way (`moto.server.main`). The corrections are
applied to moto's classes before the server starts; each says how moto differs from DynamoDB and
why it matters here. They use moto's backend and table methods only (no copy of moto's code), and
refuse to start on another moto version than the one they were checked against.

Settings (environment, for tests):
    CLINIC_EMULATOR_STREAM_RETENTION_SECONDS  stream records older than this are trimmed (86400)
    CLINIC_EMULATOR_TRIM_EVERY_SECONDS        how often the trimming runs (60)
    CLINIC_EMULATOR_MAX_ITERATORS             shard iterators kept at most (10000)
    CLINIC_EMULATOR_STATS_EVERY_SECONDS       print requests per action and their time (off)
    CLINIC_EMULATOR_FAULTS                    a JSON file of faults to inject (see `faults`)
    CLINIC_EMULATOR_ACCESS_LOG                1: log every request served, not only failures
"""

from __future__ import annotations

import collections
import copy
import datetime
import os
import sys
import threading
import time
from typing import Any

CHECKED_MOTO = "5.2.5"

# DynamoDB Streams keeps records for 24 hours.
STREAM_RETENTION_SECONDS = float(
    os.environ.get("CLINIC_EMULATOR_STREAM_RETENTION_SECONDS", 24 * 3600)
)
TRIM_EVERY_SECONDS = float(os.environ.get("CLINIC_EMULATOR_TRIM_EVERY_SECONDS", 60))
# DynamoDB Streams shard iterators expire 15 minutes after they are handed out.
ITERATOR_LIFETIME_SECONDS = 15 * 60
# ...and here at most this many are kept: moto keeps every iterator it hands out (about 2 KB each:
# a random 472-byte id, twice), and a stream poller takes two per read, many a second under load.
MAX_ITERATORS = int(os.environ.get("CLINIC_EMULATOR_MAX_ITERATORS", 10_000))

# One lock for everything DynamoDB and DynamoDB Streams serve (see `serialize_requests`).
LOCK = threading.RLock()
# Requests that took the lock and the time they waited for it (for the request statistics).
LOCK_WAIT = [0, 0.0]


def serialize_requests() -> None:
    """DynamoDB applies each request atomically and isolates transactions from other requests.
    moto serves requests on threads and its backend methods take no lock: a GetItem racing an
    UpdateItem can read a half-updated item, two conditional writes can both pass their
    condition, and a transaction's writes interleave with other requests. Every DynamoDB and
    DynamoDB Streams request runs under one lock here, so each request (a transaction included)
    is atomic and serializable, and a stream reader never sees part of a transaction. Requests
    are short (in-memory), so the lock costs little on a machine with few cores."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        unlocked = handler.call_action

        def call_action(self: Any, _unlocked: Any = unlocked) -> Any:
            asked = time.perf_counter()
            with LOCK:
                LOCK_WAIT[0] += 1
                LOCK_WAIT[1] += time.perf_counter() - asked
                return _unlocked(self)

        call_action.__doc__ = unlocked.__doc__
        handler.call_action = call_action  # type: ignore[method-assign]


def transactions_without_snapshots() -> None:
    """moto's TransactWriteItems deep-copies every table it touches (all items and the table's
    whole stream) before each transaction, applies the operations one by one, and when one fails
    puts the copies back in place of the tables. That costs memory and time growing with the table
    (gigabytes and timeouts after minutes of load), loses every write other requests made to those
    tables meanwhile, and rewinds their streams: records vanish, sequence numbers are handed out
    again to other records. DynamoDB instead checks every condition first, then applies all
    operations or none; other requests' writes and stream records stay.

    Here, under the request lock: validate every operation and check every condition against the
    current items (the same errors moto and DynamoDB give: ValidationException for two operations
    on one item or more than 100, TransactionCanceledException with a reason per operation, e.g.
    ConditionalCheckFailed with the item for ReturnValuesOnConditionCheckFailure=ALL_OLD); then
    apply them, keeping a copy of each touched item only. If an operation fails while applied
    (e.g. an update expression that does not fit the item), the touched items are put back and the
    stream records this transaction appended are removed: nobody saw them (readers wait for the
    lock), nothing else is rewound."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    operations = ("ConditionCheck", "Put", "Delete", "Update")

    def key_of(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
        if op_type != "Put":
            return op["Key"]
        item = op["Item"]
        key = {}
        for name in (table.hash_key_attr, table.range_key_attr):
            if name is None:
                continue
            if name not in item:
                raise MockValidationException(
                    f"One or more parameter values were invalid: Missing the key {name} in the item"
                )
            key[name] = item[name]
        return key

    def restore(undo: list[tuple[Any, Any, Any, Any]], marks: dict[str, tuple[Any, int]]) -> None:
        for table, hash_value, range_value, before in reversed(undo):
            if table.has_range_key:
                bucket = table.items[hash_value]
                if before is None:
                    bucket.pop(range_value, None)
                    if not bucket:
                        table.items.pop(hash_value, None)
                else:
                    bucket[range_value] = before
            elif before is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
        for table, length in marks.values():
            if table.stream_shard is not None:
                del table.stream_shard.items[length:]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        with LOCK:
            plan = []
            targets = set()
            reasons: list[tuple[Any, Any, Any]] = []
            for entry in transact_items:
                if len(entry) != 1:
                    raise TransactWriteSingleOpException()
                op_type, op = next(iter(entry.items()))
                if op_type not in operations:
                    raise MockValidationException(f"Unsupported transaction operation {op_type}")
                table = self.get_table(op["TableName"])
                key = key_of(table, op_type, op)
                hash_value, range_value = self.get_keys_value(table, key)
                target = (table.name, hash_value, range_value)
                if target in targets:
                    raise MultipleTransactionsException()
                targets.add(target)
                current = table.get_item(hash_value, range_value)
                condition = op.get("ConditionExpression")
                reason: tuple[Any, Any, Any] = (None, None, None)
                if condition is not None:
                    check = get_filter_expression(
                        condition,
                        op.get("ExpressionAttributeNames"),
                        op.get("ExpressionAttributeValues"),
                    )
                    if not check.expr(current):
                        old = None
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            old = current.to_json()["Attributes"]
                        reason = ("ConditionalCheckFailed", ConditionalCheckFailed().message, old)
                reasons.append(reason)
                plan.append((op_type, op, table, key, hash_value, range_value))
            if any(code is not None for code, _, _ in reasons):
                raise TransactionCanceledException(reasons)

            # Every condition holds: apply, keeping what is needed to undo.
            undo: list[tuple[Any, Any, Any, Any]] = []
            marks: dict[str, tuple[Any, int]] = {}
            for index, (op_type, op, table, key, hash_value, range_value) in enumerate(plan):
                if op_type == "ConditionCheck":
                    continue
                if table.name not in marks:
                    shard = table.stream_shard
                    marks[table.name] = (table, len(shard.items) if shard is not None else 0)
                before = table.get_item(hash_value, range_value)
                undo.append((table, hash_value, range_value, copy.deepcopy(before)))
                try:
                    if op_type == "Put":
                        self.put_item(table.name, op["Item"])
                    elif op_type == "Delete":
                        self.delete_item(table.name, key)
                    else:
                        self.update_item(
                            table.name,
                            key,
                            update_expression=op["UpdateExpression"],
                            expression_attribute_names=op.get("ExpressionAttributeNames"),
                            expression_attribute_values=op.get("ExpressionAttributeValues"),
                        )
                except MockValidationException:
                    restore(undo, marks)
                    raise
                except Exception as error:  # noqa: BLE001 - any failure cancels the transaction
                    restore(undo, marks)
                    failed: list[tuple[Any, Any, Any]] = [(None, None, None)] * len(plan)
                    message = getattr(error, "message", None) or str(error)
                    failed[index] = (type(error).__name__, message, None)
                    raise TransactionCanceledException(failed) from error

    transact_write_items.__doc__ = transactions_without_snapshots.__doc__
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def lookups_leave_no_trace() -> None:
    """moto keeps a table's items in a defaultdict keyed by partition: looking up an item of a
    partition that does not exist (GetItem, a condition on a new item) creates an empty partition
    that stays for good. Idempotency keys, e-mail look-ups and new items all do that, so memory
    grows with every read of a missing item. Here a look-up of a missing partition answers
    "no item" without creating it, as any read should."""
    from moto.dynamodb.models.table import Table

    original = Table.get_item

    def get_item(
        self: Any, hash_key: Any, range_key: Any = None, projection_expression: Any = None
    ) -> Any:
        if range_key and hash_key not in self.items:
            return None
        return original(self, hash_key, range_key, projection_expression)

    Table.get_item = get_item  # type: ignore[method-assign]


def queries_read_their_partition() -> None:
    """Speed, not behaviour. moto answers every Query by listing and sorting every item of the
    table (`Table.all_items`: n log n comparisons of key objects) before keeping the asked
    partition's, so each query costs more as the table grows: after ten minutes of a few dozen
    people's traffic, queries were most of the emulator's time and every request waited behind
    them. Here a query on the table reads its partition only, and a query on an index gets the
    table's items unsorted (moto keeps those carrying the asked key and sorts them by the index's
    keys and the table's, an order that does not depend on the one it got). The answers, their
    order and their pages are the same."""
    from moto.dynamodb.models.table import Table

    query = Table.query
    all_items = Table.all_items
    current = threading.local()

    def query_reading_its_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # Table.query(hash_key, range_comparison, range_objs, limit, exclusive_start_key,
        # scan_index_forward, projection_expressions, index_name, ...)
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        current.query = (self, hash_key, index_name)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            current.query = None

    def items_for_the_query(self: Any) -> Any:
        asked = getattr(current, "query", None)
        if asked is None or asked[0] is not self or (asked[1] is None and not asked[2]):
            return all_items(self)
        _, hash_key, index_name = asked
        if index_name:
            items: list[Any] = []
            for partition in self.items.values():
                if self.range_key_attr:
                    items.extend(partition.values())
                else:
                    items.append(partition)
            return items
        partition = self.items.get(hash_key)
        if partition is None:
            return []
        return list(partition.values()) if self.range_key_attr else [partition]

    Table.query = query_reading_its_partition  # type: ignore[method-assign]
    Table.all_items = items_for_the_query  # type: ignore[method-assign]


def bounded_streams() -> None:
    """Stream memory. moto keeps every stream record of a table for as long as it runs, and every
    shard iterator it ever handed out; DynamoDB Streams keeps records for 24 hours and expires
    iterators after 15 minutes. Here records older than 24 hours are trimmed from the front of the
    shard (sequence numbers stay the same: the shard's starting sequence number moves on), and
    iterators expire after 15 minutes (at most the newest MAX_ITERATORS are kept).

    Reading at a sequence number that was trimmed answers from the oldest record kept (moto would
    fail with a 500; DynamoDB says TrimmedDataAccessException): a reader then sees that the record
    it consumed last is not where it was, and the runner's stream poller reads the shard again
    from its start, skipping every record it delivered (local/src/events/cursor.rs)."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    class ExpiredIteratorException(JsonRESTError):
        def __init__(self) -> None:
            super().__init__("ExpiredIteratorException", "Iterator expired")

    class Iterators(dict):  # type: ignore[type-arg]
        """Shard iterators by id, forgetting those older than their lifetime."""

        def __init__(self) -> None:
            super().__init__()
            self.handed_out: collections.deque[tuple[float, str]] = collections.deque()

        def __setitem__(self, key: str, value: Any) -> None:
            now = time.monotonic()
            super().__setitem__(key, value)
            self.handed_out.append((now, key))
            while self.handed_out and (
                now - self.handed_out[0][0] > ITERATOR_LIFETIME_SECONDS
                or len(self.handed_out) > MAX_ITERATORS
            ):
                _, old = self.handed_out.popleft()
                self.pop(old, None)

    init = DynamoDBStreamsBackend.__init__

    def streams_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.shard_iterators = Iterators()

    DynamoDBStreamsBackend.__init__ = streams_init  # type: ignore[method-assign]

    get_records = DynamoDBStreamsBackend.get_records

    def streams_get_records(self: Any, iterator_arn: str, limit: int) -> Any:
        if iterator_arn not in self.shard_iterators:
            raise ExpiredIteratorException()
        return get_records(self, iterator_arn, limit)

    DynamoDBStreamsBackend.get_records = streams_get_records  # type: ignore[method-assign]

    shard_get = StreamShard.get

    def get_from_oldest_kept(self: Any, start: int, quantity: int) -> Any:
        return shard_get(self, max(int(start), self.starting_sequence_number), quantity)

    StreamShard.get = get_from_oldest_kept  # type: ignore[method-assign]

    def trim_once(now: float) -> int:
        trimmed = 0
        with LOCK:
            for regions in list(dynamodb_backends.values()):
                for backend in list(regions.values()):
                    for table in list(backend.tables.values()):
                        shard = table.stream_shard
                        if shard is None:
                            continue
                        old = 0
                        for record in shard.items:
                            # A naive UTC datetime (moto.core.utils.utcnow).
                            created = record.record["dynamodb"]["ApproximateCreationDateTime"]
                            created = created.replace(tzinfo=datetime.timezone.utc).timestamp()
                            if now - created <= STREAM_RETENTION_SECONDS:
                                break
                            old += 1
                        if old:
                            del shard.items[:old]
                            shard.starting_sequence_number += old
                            trimmed += old
        return trimmed

    def trim_forever() -> None:
        while True:
            time.sleep(TRIM_EVERY_SECONDS)
            try:
                trim_once(time.time())
            except Exception as error:  # noqa: BLE001 - keep trimming; say why once per round
                print(f"emulator: stream trimming failed: {error!r}", file=sys.stderr)

    threading.Thread(target=trim_forever, name="stream-trimming", daemon=True).start()


def dispatch_without_repeated_lookups() -> None:
    """Speed, not behaviour. On every request moto lists its own package directory and stats each
    entry to learn which services it has (`list_of_moto_modules`), and inspects the response
    class for its methods (`method_names_from_class`); both answers are fixed while the server
    runs, and together they take about a sixth of the CPU time of a DynamoDB request. Under a soak
    the emulator is the busiest process (one Python interpreter serves every service), so they
    are computed once here."""
    import functools

    import moto.backends as backends
    import moto.core.responses as responses

    services = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: services  # type: ignore[assignment]
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(  # type: ignore[assignment]
        responses.method_names_from_class
    )


def request_stats(every: float) -> None:
    """Diagnostics, not a correction: every `every` seconds, the requests served since the last
    report per service and action, with their average and slowest time (lock waits included)."""
    from moto.core.responses import BaseResponse

    counts: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    guard = threading.Lock()
    depth = threading.local()

    def timed(inner: Any) -> Any:
        def call_action(self: Any) -> Any:
            if getattr(depth, "busy", False):
                return inner(self)
            depth.busy = True
            started = time.perf_counter()
            try:
                return inner(self)
            finally:
                depth.busy = False
                spent = time.perf_counter() - started
                try:
                    name = f"{self.service_name}.{self._get_action()}"
                except Exception:  # noqa: BLE001 - diagnostics only
                    name = f"{type(self).__name__}.?"
                with guard:
                    entry = counts[name]
                    entry[0] += 1
                    entry[1] += spent
                    entry[2] = max(entry[2], spent)

        return call_action

    BaseResponse.call_action = timed(BaseResponse.call_action)  # type: ignore[method-assign]
    for handler in BaseResponse.__subclasses__():
        if "call_action" in handler.__dict__:
            handler.call_action = timed(handler.__dict__["call_action"])  # type: ignore[method-assign]

    def report() -> None:
        while True:
            time.sleep(every)
            with guard:
                snapshot = sorted(counts.items(), key=lambda kv: -kv[1][1])
                counts.clear()
                locked, waited = LOCK_WAIT
                LOCK_WAIT[0], LOCK_WAIT[1] = 0, 0.0
            served = sum(v[1] for _, v in snapshot)
            requests = int(sum(v[0] for _, v in snapshot))
            lines = [
                f"emulator: {requests} requests in {every:.0f} s, {served:.1f} s spent serving; "
                f"{locked} DynamoDB requests waited {waited * 1000 / max(locked, 1):.1f} ms on average "
                "for the lock"
            ]
            for name, (n, spent, slowest) in snapshot[:15]:
                lines.append(
                    f"  {name:<44} {int(n):>6} {spent * 1000 / max(n, 1):>8.1f} ms avg "
                    f"{slowest * 1000:>7.0f} ms max"
                )
            print("\n".join(lines), file=sys.stderr, flush=True)

    threading.Thread(target=report, name="request-stats", daemon=True).start()


def access_log_of_failures_only() -> None:
    """moto's server writes a line for every request it serves (werkzeug's access log). Under a
    few dozen people's traffic that took a tenth of the emulator's time, under the same global
    interpreter lock every request needs, for lines nobody reads. Only failed requests (5xx) are
    logged, unless CLINIC_EMULATOR_ACCESS_LOG=1."""
    from werkzeug.serving import WSGIRequestHandler

    log_request = WSGIRequestHandler.log_request

    def log_failed_request(self: Any, code: Any = "-", size: Any = "-") -> None:
        try:
            status = int(getattr(code, "value", code))
        except (TypeError, ValueError):
            status = 500
        if status >= 500:
            log_request(self, code, size)

    WSGIRequestHandler.log_request = log_failed_request  # type: ignore[method-assign]


def main() -> None:
    import moto

    from emulator_faults import faults

    if moto.__version__ != CHECKED_MOTO:
        sys.exit(
            f"emulator: moto {moto.__version__} installed, the corrections were checked against "
            f"{CHECKED_MOTO} (scripts/requirements.txt); run scripts/bootstrap"
        )
    serialize_requests()
    transactions_without_snapshots()
    lookups_leave_no_trace()
    queries_read_their_partition()
    bounded_streams()
    dispatch_without_repeated_lookups()
    if os.environ.get("CLINIC_EMULATOR_ACCESS_LOG") != "1":
        access_log_of_failures_only()
    every = float(os.environ.get("CLINIC_EMULATOR_STATS_EVERY_SECONDS", 0))
    if every > 0:
        request_stats(every)
    fault_file = os.environ.get("CLINIC_EMULATOR_FAULTS")
    if fault_file:
        faults(fault_file)

    from moto.server import main as moto_server

    moto_server(sys.argv[1:])


if __name__ == "__main__":
    main()
