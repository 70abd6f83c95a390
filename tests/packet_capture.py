"""A tiny packet capture for the network-namespace test (no tcpdump on this machine):
every Ethernet frame seen in the namespace it runs in, written to a file until SIGTERM,
and a reader that reassembles the TCP streams of such a file.

Run as: python packet_capture.py OUT_FILE (inside the switch namespace)."""

from __future__ import annotations

import signal
import socket
import struct
import sys
from pathlib import Path

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def capture(out: Path) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    running = [True]

    def stop(*_args) -> None:
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    sock.settimeout(0.2)
    with out.open("wb") as f:
        print("ready", flush=True)
        while running[0]:
            try:
                frame, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except InterruptedError:
                continue
            if addr[2] == PACKET_OUTGOING:
                continue  # each frame once: as it enters the bridge, not again as it leaves
            f.write(struct.pack("!I", len(frame)) + frame)
        f.flush()


def frames(path: Path) -> list[bytes]:
    data = path.read_bytes()
    out, i = [], 0
    while i + 4 <= len(data):
        (n,) = struct.unpack_from("!I", data, i)
        out.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return out


def tcp_streams(path: Path) -> dict[tuple, bytes]:
    """(src ip, src port, dst ip, dst port) → the payload bytes in sequence order."""
    segments: dict[tuple, dict[int, bytes]] = {}
    for frame in frames(path):
        if len(frame) < 14 or frame[12:14] != b"\x08\x00":
            continue  # IPv4 only
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6:
            continue
        total = struct.unpack_from("!H", ip, 2)[0]
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        tcp = ip[ihl:total]
        sport, dport, seq = struct.unpack_from("!HHI", tcp, 0)
        offset = (tcp[12] >> 4) * 4
        payload = tcp[offset:]
        if payload:
            segments.setdefault((src, sport, dst, dport), {})[seq] = payload
    streams = {}
    for key, parts in segments.items():
        ordered = sorted(parts.items())
        base = ordered[0][0]
        buf = bytearray()
        for seq, payload in ordered:
            start = (seq - base) % (1 << 32)
            if start > len(buf):
                break  # a gap: the capture missed a segment; stop at what is contiguous
            buf[start:start + len(payload)] = payload
        streams[key] = bytes(buf)
    return streams


def tls_records(stream: bytes) -> list[tuple[int, int]]:
    """(content type, length) of each TLS record; ValueError if the bytes are not TLS."""
    records, i = [], 0
    while i < len(stream):
        if len(stream) - i < 5:
            break  # cut off by the end of the capture
        ctype, version, length = stream[i], stream[i + 1:i + 3], \
            struct.unpack_from("!H", stream, i + 3)[0]
        if ctype not in (20, 21, 22, 23) or version not in (b"\x03\x01", b"\x03\x03") or \
                length > (1 << 14) + 256:
            raise ValueError(f"not a TLS record at byte {i}: {stream[i:i + 8].hex()}")
        records.append((ctype, length))
        i += 5 + length
    return records


if __name__ == "__main__":
    capture(Path(sys.argv[1]))
