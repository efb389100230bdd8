"""Deterministic seeds derived from a run seed and a path of labels (no global RNG state)."""

import hashlib


def derive_seed(seed: int, *labels: object) -> int:
    """A 63-bit seed that depends only on ``seed`` and ``labels`` (stable across processes)."""
    text = ":".join([str(seed), *(str(label) for label in labels)])
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
