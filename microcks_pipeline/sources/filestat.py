"""Cheap proof that a file is unchanged since it was read: git's index trick.

A file whose (device, inode, size, mtime, ctime) are the same as when we read it holds the same
bytes: ctime is set by the kernel on every write and cannot be set back from user space. A file
changed less than RACY_SECONDS before it was read is "racily clean" (a second write in the same
clock tick would keep the stamp), so it is never trusted and is read again next time. Fingerprints
stay content hashes; this only decides whether the content must be read again to know it.
"""

from __future__ import annotations

import os
import time

RACY_SECONDS = 2.0

StatKey = tuple[int, int, int, int, int]


def stat_key(path: str | os.PathLike[str]) -> StatKey | None:
    """The identity of the file's current content, or None when it cannot be trusted."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    newest = max(st.st_mtime_ns, st.st_ctime_ns)
    if newest > time.time_ns() - int(RACY_SECONDS * 1e9):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def unchanged(path: str | os.PathLike[str], key: StatKey | None) -> bool:
    return key is not None and stat_key(path) == key
