"""Artifacts in an S3-compatible bucket (AWS, MinIO, R2, moto), shared by every process.

Through boto3 (the `[s3]` extra). Credentials come from boto3's standard
chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws, instance roles);
easel never stores them. Expiry: the job service's retention sweep deletes a
job's prefix when the job expires, as with local disk; `ensure_lifecycle`
adds a bucket rule as a backstop for anything a sweep missed.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from easel.storage.base import CHUNK_SIZE, ArtifactStream

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3ArtifactStore:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self._prefix = prefix
        self._s3 = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def _key(self, key: str) -> str:
        parts = key.split("/")
        if not all(_SEGMENT.fullmatch(p) and p not in (".", "..") for p in parts):
            raise ValueError(f"invalid artifact key: {key!r}")
        return self._prefix + key

    def put(self, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key).chunks)

    def open(self, key: str, chunk_size: int = CHUNK_SIZE) -> ArtifactStream:
        """The object's size and body; the body is read from the bucket as it is consumed."""
        try:
            reply = self._s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise KeyError(key) from exc
            raise
        return ArtifactStream(int(reply["ContentLength"]), _iter_body(reply["Body"], chunk_size))

    def delete_prefix(self, prefix: str) -> None:
        root = self._key(prefix) + "/"
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=root):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    def ensure_lifecycle(self, days: int) -> None:
        """Expire every object under this store's prefix `days` after it was written."""
        self._s3.put_bucket_lifecycle_configuration(
            Bucket=self.bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": f"easel-expiry-{self._prefix or 'all'}".rstrip("/"),
                        "Filter": {"Prefix": self._prefix},
                        "Status": "Enabled",
                        "Expiration": {"Days": days},
                    }
                ]
            },
        )


def _iter_body(body: Any, chunk_size: int) -> Generator[bytes, None, None]:
    try:
        yield from body.iter_chunks(chunk_size)
    finally:  # back to the connection pool, or dropped if the client left mid-stream
        body.close()
