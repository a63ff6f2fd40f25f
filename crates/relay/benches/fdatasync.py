#!/usr/bin/env python3
"""What a group commit's fdatasync costs when it lengthens the file (a WAL
growing from empty) against when it overwrites blocks already in it (a WAL
written ahead with zeros, `store::preallocate_wal`), on the filesystem of the
directory given (default: the current one). Each commit writes 9 WAL frames
(4 KiB pages plus 24-byte headers), about what a group of 12 webhooks writes.

    python3 crates/relay/benches/fdatasync.py [DIR]
"""
import os
import sys
import time

FRAMES = 9
COMMITS = 1500
FRAME = 4096 + 24


def per_commit_us(directory, prefilled):
    path = os.path.join(directory, "fdatasync-bench.tmp")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if prefilled:
            os.write(fd, b"\0" * (FRAMES * FRAME * COMMITS))
            os.fsync(fd)
        data = b"x" * (FRAMES * FRAME)
        start = time.perf_counter()
        for i in range(COMMITS):
            os.pwrite(fd, data, i * len(data))
            os.fdatasync(fd)
        return (time.perf_counter() - start) / COMMITS * 1e6
    finally:
        os.close(fd)
        os.unlink(path)


directory = sys.argv[1] if len(sys.argv) > 1 else "."
for _ in range(3):
    grow = per_commit_us(directory, False)
    overwrite = per_commit_us(directory, True)
    print(f"lengthening {grow:.0f} us, overwriting {overwrite:.0f} us per commit "
          f"(overwrite / lengthen = {overwrite / grow:.2f})")
