"""Where uploaded bytes live. Local disk now; the interface leaves room for S3-compatible storage."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol


class FileStorage(Protocol):
    def save(self, key: str, content: bytes) -> None: ...

    def save_file(self, key: str, source: Path) -> None:
        """Stores a file written elsewhere (an export), moving it rather than reading it in."""
        ...

    def read(self, key: str) -> bytes: ...

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """A path on this machine to stream from (a download to a temp file for remote stores)."""
        ...

    def delete(self, key: str) -> None: ...


class LocalFileStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def save(self, key: str, content: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".part")
        temporary.write_bytes(content)
        os.replace(temporary, path)  # readers never see a half-written file

    def save_file(self, key: str, source: Path) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".part")
        shutil.move(source, temporary)  # across file systems too (the system temp directory)
        os.replace(temporary, path)

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        yield self._path(key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
