#!/usr/bin/env python3
"""Tests of the emulator's corrections (scripts/emulator.py) against a server started here.

    .venv/bin/python scripts/emulator_test.py

Each test talks to the launcher over HTTP with boto3, as the functions do with the AWS SDK.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
CLIENT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """The launcher on a free port, with extra environment."""

    def __init__(self, log: Path | None = None, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w", encoding="utf-8") if log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "emulator.py"), "-H", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the emulator did not start")
                time.sleep(0.2)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=CLIENT_CONFIG,
        )

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if self.log is not subprocess.DEVNULL:
            self.log.close()


def create_table(ddb: Any, name: str) -> str:
    out = ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    return out["TableDescription"]["LatestStreamArn"]


def read_stream(streams: Any, arn: str, start: str | None = None) -> list[dict[str, Any]]:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    args: dict[str, Any] = {"StreamArn": arn, "ShardId": shard}
    if start is None:
        args["ShardIteratorType"] = "TRIM_HORIZON"
    else:
        args.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=start)
    iterator = streams.get_shard_iterator(**args)["ShardIterator"]
    records: list[dict[str, Any]] = []
    while True:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        if not page["Records"]:
            return records
        records.extend(page["Records"])
        iterator = page["NextShardIterator"]


def put(table: str, pk: str, sk: str = "A", **attrs: Any) -> dict[str, Any]:
    item = {"pk": {"S": pk}, "sk": {"S": sk}}
    item.update({k: {"S": str(v)} for k, v in attrs.items()})
    return {"Put": {"TableName": table, "Item": item}}


def cancellation_codes(error: ClientError) -> list[str]:
    return [r["Code"] for r in error.response.get("CancellationReasons", [])]


class Transactions(unittest.TestCase):
    emulator: Emulator

    @classmethod
    def setUpClass(cls) -> None:
        cls.emulator = Emulator()
        cls.ddb = cls.emulator.client("dynamodb")
        cls.streams = cls.emulator.client("dynamodbstreams")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.emulator.stop()

    def table(self) -> tuple[str, str]:
        name = f"t-{uuid.uuid4().hex[:8]}"
        return name, create_table(self.ddb, name)

    def test_conditions_are_checked_before_anything_is_written(self) -> None:
        name, arn = self.table()
        self.ddb.transact_write_items(TransactItems=[put(name, "taken", state="old")])
        before = read_stream(self.streams, arn)
        with self.assertRaises(ClientError) as failure:
            self.ddb.transact_write_items(
                TransactItems=[
                    put(name, "fresh"),
                    {
                        "Put": {
                            **put(name, "taken", state="new")["Put"],
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": name,
                            "Key": {"pk": {"S": "missing"}, "sk": {"S": "A"}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
        error = failure.exception
        self.assertEqual(error.response["Error"]["Code"], "TransactionCanceledException")
        self.assertEqual(
            cancellation_codes(error), ["None", "ConditionalCheckFailed", "ConditionalCheckFailed"]
        )
        self.assertEqual(
            error.response["CancellationReasons"][1]["Item"]["state"], {"S": "old"}
        )
        key = {"pk": {"S": "fresh"}, "sk": {"S": "A"}}
        self.assertNotIn("Item", self.ddb.get_item(TableName=name, Key=key))
        self.assertEqual(read_stream(self.streams, arn), before)

    def test_two_operations_on_one_item_or_more_than_100_are_refused(self) -> None:
        name, arn = self.table()
        with self.assertRaises(ClientError) as failure:
            self.ddb.transact_write_items(TransactItems=[put(name, "x"), put(name, "x")])
        self.assertEqual(failure.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("multiple operations on one item", str(failure.exception))
        with self.assertRaises(ClientError) as failure:
            self.ddb.transact_write_items(TransactItems=[put(name, f"i{i}") for i in range(101)])
        self.assertEqual(failure.exception.response["Error"]["Code"], "ValidationException")
        self.assertEqual(self.ddb.scan(TableName=name)["Count"], 0)
        self.assertEqual(read_stream(self.streams, arn), [])

    def test_a_failure_while_applying_puts_back_exactly_the_touched_items(self) -> None:
        name, arn = self.table()
        self.ddb.transact_write_items(
            TransactItems=[put(name, "a", v="1"), put(name, "text", n="not a number")]
        )
        before = read_stream(self.streams, arn)
        with self.assertRaises(ClientError) as failure:
            self.ddb.transact_write_items(
                TransactItems=[
                    put(name, "a", v="2"),
                    put(name, "b", v="2"),
                    {
                        # Valid on its own; fails on this item (n is a string).
                        "Update": {
                            "TableName": name,
                            "Key": {"pk": {"S": "text"}, "sk": {"S": "A"}},
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        self.assertIn(
            failure.exception.response["Error"]["Code"],
            ("ValidationException", "TransactionCanceledException"),
        )
        items = {i["pk"]["S"]: i for i in self.ddb.scan(TableName=name)["Items"]}
        self.assertEqual(sorted(items), ["a", "text"])
        self.assertEqual(items["a"]["v"], {"S": "1"})
        self.assertEqual(items["text"]["n"], {"S": "not a number"})
        self.assertEqual(read_stream(self.streams, arn), before)

    def test_concurrent_transactions_lose_no_write_and_never_rewind_the_stream(self) -> None:
        name, arn = self.table()
        self.ddb.transact_write_items(TransactItems=[put(name, "slot", taken="0")])
        writers, per_writer = 8, 25
        errors: list[BaseException] = []
        seen_sequences: list[list[str]] = []

        def writer(w: int) -> None:
            ddb = self.emulator.client("dynamodb")
            try:
                for i in range(per_writer):
                    ddb.transact_write_items(
                        TransactItems=[put(name, f"w{w}-{i}"), put(name, f"OUTBOX#w{w}-{i}", sk="O")]
                    )
                    # Every other transaction fails on a condition, as a lost race does.
                    try:
                        ddb.transact_write_items(
                            TransactItems=[
                                put(name, f"lost-w{w}-{i}"),
                                {
                                    "Put": {
                                        **put(name, "slot", taken="1")["Put"],
                                        "ConditionExpression": "attribute_not_exists(pk)",
                                    }
                                },
                            ]
                        )
                        errors.append(AssertionError("a failing transaction went through"))
                    except ClientError as error:
                        if error.response["Error"]["Code"] != "TransactionCanceledException":
                            raise
            except BaseException as error:  # noqa: BLE001 - reported by the test thread
                errors.append(error)

        def reader() -> None:
            streams = self.emulator.client("dynamodbstreams")
            for _ in range(20):
                seen_sequences.append([r["dynamodb"]["SequenceNumber"] for r in read_stream(streams, arn)])

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
        threads.append(threading.Thread(target=reader))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

        keys = {i["pk"]["S"] for i in self.ddb.scan(TableName=name)["Items"]}
        wanted = {f"w{w}-{i}" for w in range(writers) for i in range(per_writer)}
        self.assertTrue(wanted <= keys, f"lost writes: {sorted(wanted - keys)[:5]}")
        self.assertFalse(any(k.startswith("lost-") for k in keys))

        records = read_stream(self.streams, arn)
        created = [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]
        self.assertEqual(len(created), 1 + 2 * writers * per_writer)
        self.assertEqual(len(set(created)), len(created), "one record per write")
        self.assertFalse(any(k.startswith("lost-") for k in created))
        sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        self.assertEqual(sequences, sorted(sequences))
        # Every read saw a prefix of the final stream: nothing vanished or changed meanwhile.
        final = [r["dynamodb"]["SequenceNumber"] for r in records]
        ids = {r["dynamodb"]["SequenceNumber"]: r["eventID"] for r in records}
        for seen in seen_sequences:
            self.assertEqual(seen, final[: len(seen)])
        again = read_stream(self.streams, arn)
        self.assertEqual({r["dynamodb"]["SequenceNumber"]: r["eventID"] for r in again}, ids)

    def test_time_and_memory_of_transactions_stay_flat_as_the_table_grows(self) -> None:
        name, _ = self.table()

        def round_of(n: int, tag: str) -> float:
            started = time.monotonic()
            for i in range(n):
                self.ddb.transact_write_items(TransactItems=[put(name, f"{tag}-{i}", x="y" * 200)])
                try:
                    self.ddb.transact_write_items(
                        TransactItems=[
                            put(name, f"{tag}-{i}-no"),
                            {
                                "Put": {
                                    **put(name, f"{tag}-{i}")["Put"],
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                }
                            },
                        ]
                    )
                except ClientError:
                    pass
            return (time.monotonic() - started) / n

        small = round_of(100, "small")
        for batch in range(40):
            self.ddb.transact_write_items(
                TransactItems=[put(name, f"bulk-{batch}-{i}", x="y" * 400) for i in range(100)]
            )
        rss_before = self.emulator.rss_mb()
        large = round_of(300, "large")
        rss_after = self.emulator.rss_mb()
        print(
            f"\n  transaction pairs: {small * 1000:.1f} ms with 100 items, "
            f"{large * 1000:.1f} ms with 4,100+ items; emulator RSS {rss_before:.0f} -> "
            f"{rss_after:.0f} MB over 600 transactions",
            file=sys.stderr,
        )
        self.assertLess(large, small * 3 + 0.01, "time per transaction grows with the table")
        self.assertLess(rss_after - rss_before, 40, "memory grows per transaction")


class Queries(unittest.TestCase):
    emulator: Emulator

    @classmethod
    def setUpClass(cls) -> None:
        cls.emulator = Emulator()
        cls.ddb = cls.emulator.client("dynamodb")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.emulator.stop()

    def table_with_index(self) -> str:
        name = f"q-{uuid.uuid4().hex[:8]}"
        self.ddb.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gpk", "gsk")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "gsi",
                    "KeySchema": [
                        {"AttributeName": "gpk", "KeyType": "HASH"},
                        {"AttributeName": "gsk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        return name

    def query_all(self, **args: Any) -> list[tuple[str, str]]:
        """Every page of a query, 7 items a page, as (pk, sk) pairs in the order answered."""
        keys: list[tuple[str, str]] = []
        start: dict[str, Any] | None = None
        while True:
            page = self.ddb.query(Limit=7, **args, **({"ExclusiveStartKey": start} if start else {}))
            keys.extend((i["pk"]["S"], i["sk"]["S"]) for i in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                return keys

    def test_queries_answer_the_same_items_in_the_same_order_on_the_table_and_an_index(self) -> None:
        name = self.table_with_index()
        items = []
        for p in range(12):
            for i in range(15):
                # Index keys repeat across partitions (ties broken by the table's keys); some items
                # are not in the index at all.
                item = {"pk": {"S": f"P{p:02}"}, "sk": {"S": f"S{(i * 7) % 15:02}"}}
                if i % 4:
                    item["gpk"] = {"S": f"G{i % 3}"}
                    item["gsk"] = {"S": f"K{i % 5}"}
                self.ddb.put_item(TableName=name, Item=item)
                items.append(item)

        def expected(pk: str | None, g: str | None, prefix: str, forward: bool) -> list[tuple[str, str]]:
            if pk is not None:
                chosen = [i for i in items if i["pk"]["S"] == pk and i["sk"]["S"].startswith(prefix)]
                order = sorted(chosen, key=lambda i: i["sk"]["S"], reverse=not forward)
            else:
                chosen = [
                    i for i in items if i.get("gpk", {}).get("S") == g and i["gsk"]["S"].startswith(prefix)
                ]
                order = sorted(
                    chosen, key=lambda i: (i["gsk"]["S"], i["pk"]["S"], i["sk"]["S"]), reverse=not forward
                )
            return [(i["pk"]["S"], i["sk"]["S"]) for i in order]

        for forward in (True, False):
            for pk, prefix in (("P03", "S"), ("P11", "S1"), ("P99", "S")):
                got = self.query_all(
                    TableName=name,
                    KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                    ExpressionAttributeValues={":p": {"S": pk}, ":s": {"S": prefix}},
                    ScanIndexForward=forward,
                )
                self.assertEqual(got, expected(pk, None, prefix, forward), (pk, prefix, forward))
            for g, prefix in (("G1", "K"), ("G2", "K3"), ("G9", "K")):
                got = self.query_all(
                    TableName=name,
                    IndexName="gsi",
                    KeyConditionExpression="gpk = :g AND begins_with(gsk, :k)",
                    ExpressionAttributeValues={":g": {"S": g}, ":k": {"S": prefix}},
                    ScanIndexForward=forward,
                )
                self.assertEqual(got, expected(None, g, prefix, forward), (g, prefix, forward))
        # A scan still sees everything.
        self.assertEqual(self.ddb.scan(TableName=name)["Count"], len(items))

    def test_a_partition_query_costs_the_same_however_large_the_table(self) -> None:
        name = self.table_with_index()

        def query_time(rounds: int = 100) -> float:
            started = time.monotonic()
            for _ in range(rounds):
                self.ddb.query(
                    TableName=name,
                    KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "mine"}},
                )
            return (time.monotonic() - started) / rounds

        for i in range(5):
            self.ddb.put_item(TableName=name, Item={"pk": {"S": "mine"}, "sk": {"S": str(i)}})
        small = query_time()
        for batch in range(120):
            self.ddb.batch_write_item(
                RequestItems={
                    name: [
                        {"PutRequest": {"Item": {"pk": {"S": f"other-{batch}-{i}"}, "sk": {"S": "x"}}}}
                        for i in range(25)
                    ]
                }
            )
        large = query_time()
        print(
            f"\n  partition query: {small * 1000:.1f} ms in a table of 5 items, "
            f"{large * 1000:.1f} ms in one of 3,005",
            file=sys.stderr,
        )
        self.assertLess(large, small * 3 + 0.01, "a partition query reads the whole table")


class Streams(unittest.TestCase):
    def test_old_records_are_trimmed_and_reads_before_them_start_at_the_oldest_kept(self) -> None:
        emulator = Emulator(
            CLINIC_EMULATOR_STREAM_RETENTION_SECONDS="2",
            CLINIC_EMULATOR_TRIM_EVERY_SECONDS="0.5",
            CLINIC_EMULATOR_MAX_ITERATORS="40",
        )
        try:
            ddb, streams = emulator.client("dynamodb"), emulator.client("dynamodbstreams")
            arn = create_table(ddb, "trimmed")
            for i in range(3):
                ddb.put_item(TableName="trimmed", Item={"pk": {"S": f"old{i}"}, "sk": {"S": "A"}})
            old = read_stream(streams, arn)
            self.assertEqual(len(old), 3)
            time.sleep(3.5)
            ddb.put_item(TableName="trimmed", Item={"pk": {"S": "new"}, "sk": {"S": "A"}})
            kept = read_stream(streams, arn)
            self.assertEqual([r["dynamodb"]["Keys"]["pk"]["S"] for r in kept], ["new"])
            self.assertGreater(
                int(kept[0]["dynamodb"]["SequenceNumber"]),
                int(old[-1]["dynamodb"]["SequenceNumber"]),
                "sequence numbers are never reused",
            )
            # A reader that consumed old2 last finds another record there: it starts over.
            again = read_stream(streams, arn, start=old[-1]["dynamodb"]["SequenceNumber"])
            self.assertEqual(again, kept)

            # Iterators beyond the newest 40 expire, with DynamoDB Streams' error.
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
            first = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            for _ in range(45):
                streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
                )
            with self.assertRaises(ClientError) as failure:
                streams.get_records(ShardIterator=first)
            self.assertEqual(failure.exception.response["Error"]["Code"], "ExpiredIteratorException")
        finally:
            emulator.stop()


class Faults(unittest.TestCase):
    def test_a_listed_request_is_throttled_until_the_given_time_and_each_refusal_recorded(
        self,
    ) -> None:
        import json
        import tempfile

        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "faults.json")
            emulator = Emulator(CLINIC_EMULATOR_FAULTS=path)
            try:
                ses, sns = emulator.client("sesv2"), emulator.client("sns")
                ses.create_email_identity(EmailIdentity="clinic.example")
                topic = sns.create_topic(Name="faulty")["TopicArn"]

                def send() -> None:
                    ses.send_email(
                        FromEmailAddress="no-reply@clinic.example",
                        Destination={"ToAddresses": ["a@example.com"]},
                        Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}},
                    )

                # No file: nothing injected.
                send()
                sns.publish(PhoneNumber="+5511900000000", Message="m")
                with open(path, "w", encoding="utf-8") as f:
                    json.dump({"sesv2:SendEmail": time.time() + 2, "sns:Publish:sms": time.time() + 2}, f)
                with self.assertRaises(ClientError) as failure:
                    send()
                self.assertEqual(failure.exception.response["Error"]["Code"], "TooManyRequestsException")
                with self.assertRaises(ClientError) as failure:
                    sns.publish(PhoneNumber="+5511900000000", Message="m")
                self.assertIn("Throttl", failure.exception.response["Error"]["Code"])
                # Only text messages: a topic still takes publications.
                sns.publish(TopicArn=topic, Message="m")
                time.sleep(2.2)
                send()
                sns.publish(PhoneNumber="+5511900000000", Message="m")
                # One line per refused request (the client may have retried some).
                with open(path + ".injected", encoding="utf-8") as f:
                    injected = f.read().split()
                self.assertEqual(sorted(set(injected)), ["sesv2:SendEmail", "sns:Publish:sms"])
                # Rewritten: read again.
                with open(path, "w", encoding="utf-8") as f:
                    json.dump({"sns:Publish": time.time() + 60}, f)
                with self.assertRaises(ClientError):
                    sns.publish(TopicArn=topic, Message="m")
                send()
            finally:
                emulator.stop()


class AccessLog(unittest.TestCase):
    def test_only_failed_requests_are_logged_unless_asked(self) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            for setting, logged in (("", False), ("1", True)):
                log = Path(tmp) / f"emulator-{setting or 'default'}.log"
                emulator = Emulator(log=log, CLINIC_EMULATOR_ACCESS_LOG=setting)
                try:
                    ddb = emulator.client("dynamodb")
                    ddb.list_tables()
                    with self.assertRaises(ClientError):
                        ddb.describe_table(TableName="missing")
                finally:
                    emulator.stop()
                served = [line for line in log.read_text().splitlines() if '"POST / HTTP' in line]
                # A success and a client error: logged only when asked for.
                self.assertEqual(bool(served), logged, served)


if __name__ == "__main__":
    unittest.main(verbosity=2)
