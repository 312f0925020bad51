"""The boto3 client the S3 test scripts use: path-style requests to the
S3-compatible server at an endpoint (moto), with the test credentials."""

import boto3
from botocore.config import Config


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDCONEXORTEST",
        aws_secret_access_key="conexor-test-secret",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
