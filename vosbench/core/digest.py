"""File digests, read once in chunks: the SHA-256 that checkpoints, weights and data archives are
checked and recorded by (and the MD5 some publishers give)."""

from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20


def file_digests(path: str | os.PathLike[str], chunk: int = CHUNK) -> tuple[str, str]:
    """(SHA-256, MD5) of a file in hex, read once in chunks."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk: int = CHUNK) -> str:
    """SHA-256 of a file in hex."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            sha.update(block)
    return sha.hexdigest()
