"""Rewrites one Parquet object over and over, alternating two versions of
different layouts, until SECONDS have passed: a file changing under a reader.

    python s3_rewriter.py ENDPOINT BUCKET KEY SECONDS

Version "a": 2,000 rows in row groups of 300; version "b": 3,000 rows in row
groups of 700. Every value of column `tag` in a version is that version's
letter, so a preview that mixed the two would show it (or fail to decode).
Prints "ready" once the first version is stored.
"""

import io
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

from s3_client import client

endpoint, bucket, key, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s3 = client(endpoint)


def version(letter, rows, group):
    table = pa.table({
        "id": list(range(rows)),
        "tag": [letter] * rows,
        "payload": [f"{letter}-{i:08d}" * 4 for i in range(rows)],
    })
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=group, compression="snappy")
    return out.getvalue()


versions = [version("a", 2000, 300), version("b", 3000, 700)]
s3.put_object(Bucket=bucket, Key=key, Body=versions[0])
print("ready", flush=True)
deadline = time.monotonic() + seconds
turn = 1
while time.monotonic() < deadline:
    s3.put_object(Bucket=bucket, Key=key, Body=versions[turn % 2])
    turn += 1
print(f"rewrites {turn}", flush=True)
