"""The Python peer of Clinic's exam-results-api `GET /v1/exams/{id}`: one DynamoDB GetItem
(eventually consistent) per invocation, answered as an API Gateway HTTP API (payload v2)
response with the item as plain JSON, or 404 when there is none.

Started as the Lambda Python runtime starts a function:
    cd benches/peers/python && <venv>/bin/python -m awslambdaric exam_handler.handler
Environment: AWS_LAMBDA_RUNTIME_API (read by awslambdaric), BENCH_TABLE (table name),
BENCH_KEY (the item's key as DynamoDB JSON), and the AWS settings (AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for the local emulator; boto3 reads
AWS_ENDPOINT_URL itself).
"""

import base64
import json
import os
from decimal import Decimal

import boto3
from boto3.dynamodb.types import Binary, TypeDeserializer

# Module scope runs once per execution environment (Lambda's init phase), so the client and its
# connection pool are reused by every invocation, as a real function would do.
TABLE = os.environ["BENCH_TABLE"]
KEY = json.loads(os.environ["BENCH_KEY"])
dynamodb = boto3.client("dynamodb")
deserializer = TypeDeserializer()

NOT_FOUND = json.dumps({"code": "NOT_FOUND", "message": "Exam not found."})


def _plain(value):
    """json.dumps fallback for what TypeDeserializer yields beyond JSON types."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value) if all(isinstance(v, str) for v in value) else list(value)
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode("ascii")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def handler(event, context):
    found = dynamodb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=False).get("Item")
    if found is None:
        return {
            "statusCode": 404,
            "headers": {"content-type": "application/json"},
            "body": NOT_FOUND,
        }
    item = {name: deserializer.deserialize(value) for name, value in found.items()}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(item, default=_plain, ensure_ascii=False),
    }
