"""Buckets and objects for the S3 tests, written with boto3 (the AWS SDK for
Python) into the S3-compatible server at ENDPOINT (moto's server mode).

    python s3_fixtures.py ENDPOINT [HUGE_BYTES]

cx-data holds CSV, gzip CSV, JSON Lines (plain and gzip), a CSV larger than
a preview reads, keys shaped like traversals, a 1,024-byte key, and a large
object of zeros (HUGE_BYTES, default 1 GiB, uploaded in parts) that no read
may fetch whole. cx-other is a bucket an allow-list leaves out.
"""

import gzip
import io
import json
import sys

from s3_client import client

endpoint = sys.argv[1]
huge_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30

s3 = client(endpoint)


def put(key, body, bucket="cx-data", **extra):
    if isinstance(body, str):
        body = body.encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)


for bucket in ("cx-data", "cx-other"):
    s3.create_bucket(Bucket=bucket)

sales = "id,name,amount\n" + "".join(f"{i},customer {i},{i * 1.5}\n" for i in range(1, 1001))
put("sales.csv", sales, ContentType="text/csv", Metadata={"owner": "finance"})
put("sales.csv.gz", gzip.compress(sales.encode()))
events = "".join(json.dumps({"id": i, "kind": "click" if i % 2 else "view", "ms": i * 0.5}) + "\n" for i in range(1, 501))
put("events.jsonl", events)
put("events.jsonl.gz", gzip.compress(events.encode()))
put("reports/q1.csv", "quarter,total\nq1,100\n")
put("reports/2026/q2.csv", "quarter,total\nq2,200\n")
put("secret", "TOP-SECRET-ROOT-OBJECT")
put("b", "B-OBJECT")
put("a/%2e%2e/b", "LITERAL-DOTS-OBJECT")
put("k" * 1024, "LONG-KEY-OBJECT")
put("utf8.txt", "h\u00e9llo w\u00f6rld \u2713\n")
put("bytes.bin", bytes(range(256)))
# 8 MiB of CSV: more than a preview fetches.
line = "x" * 60 + ",1\n"
put("big.csv", "col,n\n" + line * ((8 << 20) // len(line)))
s3.put_object(Bucket="cx-other", Key="secret.txt", Body=b"OTHER-BUCKET-SECRET")

# Parquet with pyarrow: 200 row groups of 5,000 rows, 5 columns, snappy
# (about 20 MB, so that a preview reading only the footer and the first row
# group is measurably less than the object); the same with zstd (a codec
# this build does not decode: a clear error); a file whose footer lies.
import pyarrow as pa
import pyarrow.parquet as pq

groups, per_group = 200, 5000
n = groups * per_group
table = pa.table({
    "id": pa.array(range(n), type=pa.int64()),
    "name": pa.array([f"row {i}" for i in range(n)]),
    "amount": pa.array([i * 0.25 for i in range(n)]),
    "flag": pa.array([i % 3 == 0 for i in range(n)]),
    "noise": pa.array([(i * 2654435761) % 1000003 for i in range(n)], type=pa.int64()),
})
for key, codec in (("big.parquet", "snappy"), ("zstd.parquet", "zstd")):
    out = io.BytesIO()
    pq.write_table(table if codec == "snappy" else table.slice(0, 10_000), out, row_group_size=per_group, compression=codec)
    put(key, out.getvalue())
put("lying.parquet", b"x" * 100 + (0xFFFFFF).to_bytes(4, "little") + b"PAR1")

# The huge object, in 64 MiB parts of zeros.
part_size = 64 << 20
upload = s3.create_multipart_upload(Bucket="cx-data", Key="huge.bin")
parts = []
chunk = bytes(part_size)
sent, number = 0, 1
while sent < huge_bytes:
    size = min(part_size, huge_bytes - sent)
    body = chunk if size == part_size else bytes(size)
    etag = s3.upload_part(Bucket="cx-data", Key="huge.bin", PartNumber=number, UploadId=upload["UploadId"], Body=body)["ETag"]
    parts.append({"ETag": etag, "PartNumber": number})
    sent += size
    number += 1
s3.complete_multipart_upload(Bucket="cx-data", Key="huge.bin", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
print(json.dumps({"huge_bytes": huge_bytes}))
