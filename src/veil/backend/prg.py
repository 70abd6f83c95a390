"""Correlated randomness for rep3: pairwise keys agreed with X25519, expanded with AES-CTR.

Server i holds two 128-bit keys: k_i, shared with server i-1, and k_{i+1}, shared with
server i+1. Each use of a key expands it with AES-128 in counter mode from a distinct
starting block (node id, purpose), so both holders draw the same stream for the same
node and no stream is reused. The keys are derived with HKDF-SHA256 from an X25519
exchange at session start, bound to the session id, so they never cross the network.
"""

from __future__ import annotations

import struct

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# purposes: keep the streams of different uses of one key apart
ROUND_ZERO_SHARES = 1  # started at block (round number, 1, 0): all products of a round
TRUNC_MASK = 2  # at (node id, 2, 0): a truncation's share component and candidate pads
OUTPUT_MASK = 3  # at (node id, 3, 0)
INPUT_SHARE = 4  # at (0, 4, 0) of an owner's fresh input seed: a whole input component
RANDOM_BITS = 5  # at (node id, 5, 0): the component of a `random_bits` node


class KeyAgreement:
    """One ephemeral X25519 key pair; derives the pairwise key with a peer."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()

    def public_bytes(self) -> bytes:
        return self._private.public_key().public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)

    def derive(self, peer_public: bytes, session: bytes, pair: tuple[int, int]) -> bytes:
        shared = self._private.exchange(X25519PublicKey.from_public_bytes(bytes(peer_public)))
        low, high = sorted(pair)
        info = b"veil rep3 pairwise key " + bytes([low, high]) + session
        return HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=info).derive(shared)


_ZEROS = bytes(0)
_ZEROS_KEPT = 1 << 26
"""The keystream is AES-CTR of zero bytes; up to this many are kept and reused instead
of a new zero buffer for every stream (one per round for the products' zero shares)."""


def _zeros(nbytes: int) -> bytes | memoryview:
    global _ZEROS
    if nbytes > _ZEROS_KEPT:
        return bytes(nbytes)
    if len(_ZEROS) < nbytes:
        _ZEROS = bytes(max(nbytes, 2 * len(_ZEROS)))
    return memoryview(_ZEROS)[:nbytes]


def _keystream(key: bytes, node: int, purpose: int):
    """The AES-128-CTR encryptor whose output starts at block (node, purpose, 0)."""
    start = struct.pack(">QII", node, purpose, 0)
    return Cipher(algorithms.AES(key), modes.CTR(start)).encryptor()


def stream(key: bytes, node: int, purpose: int, nbytes: int) -> bytes:
    """nbytes of AES-128-CTR keystream starting at block (node, purpose, 0)."""
    return _keystream(key, node, purpose).update(_zeros(nbytes))


def stream_into(key: bytes, node: int, purpose: int, out: np.ndarray) -> np.ndarray:
    """`stream` written into `out` (uint8, one block longer than the stream wanted: the
    AES-CTR update needs the room); returns the stream's part of it."""
    nbytes = out.size - 16
    _keystream(key, node, purpose).update_into(_zeros(nbytes), out)
    return out[:nbytes]


def ring(key: bytes, node: int, purpose: int, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(stream(key, node, purpose, 8 * n), dtype=np.uint64).reshape(shape)


def ring_writable(key: bytes, node: int, purpose: int, shape: tuple[int, ...]) -> np.ndarray:
    """The draws of `ring` in a writable array, written by AES straight into it (no copy
    of the keystream; the AES-CTR update needs room for one block more)."""
    n = int(np.prod(shape, dtype=np.int64))
    buffer = np.empty(8 * n + 16, dtype=np.uint8)
    return stream_into(key, node, purpose, buffer).view(np.uint64).reshape(shape)


def ring_at(key: bytes, node: int, purpose: int, indices: np.ndarray) -> np.ndarray:
    """ring(key, node, purpose, (n,))[indices] for any n > max(indices), without expanding
    the whole stream: only the CTR blocks that hold them are encrypted (block j of the
    stream is AES of (node, purpose, j), for j below 2^32)."""
    where = np.asarray(indices, dtype=np.int64).reshape(-1)
    blocks = np.empty((where.size, 4), dtype=">u4")
    blocks[:, 0], blocks[:, 1] = node >> 32, node & 0xFFFFFFFF
    blocks[:, 2], blocks[:, 3] = purpose, where // 2
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    words = np.frombuffer(encryptor.update(blocks.tobytes()) + encryptor.finalize(),
                          dtype=np.uint64).reshape(-1, 2)
    return words[np.arange(where.size), where % 2]


def bits(key: bytes, node: int, purpose: int, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    raw = np.frombuffer(stream(key, node, purpose, n), dtype=np.uint8)
    return (raw & 1).astype(np.bool_).reshape(shape)
