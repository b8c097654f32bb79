"""Listing a watched bucket, page by page in key order: through ``oss2`` for OSS, or a local
directory (a ``file://`` endpoint) watched the same way, so the demo needs no cloud account."""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import oss2
import requests

from oss_watch.models import LOCAL_SCHEME, WatchedBucket

PAGE = 1000  # OSS's most per list call; each call is billed


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: int  # seconds since the epoch


class ListingError(Exception):
    """The bucket could not be listed (credentials, network, 5xx, missing bucket): the message
    says which, and the next check tries again."""


class Lister:
    calls = 0

    def pages(self) -> Iterator[list[ObjectInfo]]:
        raise NotImplementedError


class OssLister(Lister):
    def __init__(self, watched: WatchedBucket, timeout: float = 30) -> None:
        key_id, secret = (credential(name) for name in (watched.access_key_env, watched.secret_key_env))
        try:
            self.bucket = oss2.Bucket(
                oss2.Auth(key_id, secret), watched.endpoint, watched.bucket, connect_timeout=timeout
            )
        except oss2.exceptions.ClientError as exc:  # a malformed endpoint or bucket name
            raise ListingError(f"bad OSS endpoint or bucket name: {exc}") from exc
        self.prefix = watched.prefix
        self.calls = 0

    def pages(self) -> Iterator[list[ObjectInfo]]:
        token = ""
        while True:
            self.calls += 1
            try:
                result = self.bucket.list_objects_v2(
                    prefix=self.prefix, continuation_token=token, max_keys=PAGE
                )
            except oss2.exceptions.OssError as exc:
                raise ListingError(f"OSS answered {exc.status} {exc.code}: {exc.message}") from exc
            except requests.RequestException as exc:
                raise ListingError(f"cannot reach OSS: {type(exc).__name__}: {exc}") from exc
            yield [
                ObjectInfo(o.key, o.etag, o.size, o.last_modified)
                for o in result.object_list
                if not o.is_prefix()
            ]
            if not result.is_truncated:
                return
            token = result.next_continuation_token


class LocalLister(Lister):
    """A directory as a bucket: keys are relative paths, the ETag is size and modification time."""

    def __init__(self, watched: WatchedBucket) -> None:
        self.root = Path(watched.endpoint.removeprefix(LOCAL_SCHEME))
        self.prefix = watched.prefix
        self.calls = 0

    def pages(self) -> Iterator[list[ObjectInfo]]:
        if not self.root.is_dir():
            raise ListingError(f"{self.root} is not a directory")
        found = []
        for directory, _, files in os.walk(self.root, onerror=unreadable):
            for name in files:
                path = Path(directory, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(self.prefix):
                    try:
                        stat = path.stat()
                    except FileNotFoundError:  # gone since the walk: the next check sees it deleted
                        continue
                    found.append(
                        ObjectInfo(
                            key, f"{stat.st_size}-{stat.st_mtime_ns}", stat.st_size, int(stat.st_mtime)
                        )
                    )
        found.sort(key=lambda o: o.key.encode())
        for start in range(0, len(found), PAGE):
            self.calls += 1
            yield found[start : start + PAGE]
        if not found:
            self.calls += 1
            yield []


def unreadable(exc: OSError):
    """os.walk skips a directory it cannot read; a listing that skipped one would report its files
    as deleted, so it fails instead."""
    raise ListingError(f"cannot read {exc.filename}: {exc.strerror}") from exc


def credential(name: str) -> str:
    if not name:
        raise ListingError("no credential variable named (access_key_env / secret_key_env)")
    value = os.environ.get(name)
    if not value:
        raise ListingError(f"environment variable {name} is not set")
    return value


def lister_for(watched: WatchedBucket) -> Lister:
    return LocalLister(watched) if watched.is_local else OssLister(watched)
