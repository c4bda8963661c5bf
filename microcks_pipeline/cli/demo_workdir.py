"""The demo's working folder: its layout, a lock against a second demo, the sample catalog copied in, a fresh Dagster instance."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from microcks_pipeline.defs.tags import ENTITY_TAG

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CATALOG = PROJECT_ROOT / "examples" / "catalog"
WORKSPACE = PROJECT_ROOT / "workspace.yaml"
MARKER = ".microcks-pipeline-demo"
LOCK = "demo.lock"


EXIT_STOPPED, EXIT_FAILED, EXIT_CANNOT_START = 0, 1, 2


class DemoError(Exception):
    """The demo cannot start or stopped working; the message says what to change or look at."""

    def __init__(self, message: str, exit_code: int = EXIT_CANNOT_START) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class DemoPaths:
    workdir: Path

    @property
    def marker(self) -> Path:
        return self.workdir / MARKER

    @property
    def lock(self) -> Path:
        return self.workdir / LOCK

    @property
    def catalog(self) -> Path:
        return self.workdir / "catalog"

    @property
    def status_db(self) -> Path:
        return self.workdir / "status.db"

    @property
    def dagster_home(self) -> Path:
        return self.workdir / "dagster_home"

    @property
    def log(self) -> Path:
        return self.workdir / "dagster.log"


def instance_yaml(max_concurrent_runs: int = 3) -> str:
    """The demo dagster.yaml: SQLite defaults, a fast run queue, one run per entity, no telemetry."""
    return f"""\
# Written by `microcks-pipeline demo`; SQLite storage (no storage block).
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    dequeue_use_threads: true  # a launch waits for its run process to boot: launch in parallel
    dequeue_num_workers: {max_concurrent_runs}
concurrency:
  runs:
    max_concurrent_runs: {max_concurrent_runs}
    tag_concurrency_limits:
      - key: "{ENTITY_TAG}"
        value:
          applyLimitPerUniqueValue: true
        limit: 1
telemetry:
  enabled: false
"""


def check_workdir(paths: DemoPaths) -> None:
    """Refuse a work directory that is a file, or a non-empty one the demo did not make, so a
    wrong --workdir never has its files replaced or deleted."""
    workdir = paths.workdir
    if not workdir.exists():
        return
    if not workdir.is_dir():
        raise DemoError(f"{workdir} is not a directory; give another --workdir")
    if not paths.marker.exists() and any(p.name != LOCK for p in workdir.iterdir()):
        raise DemoError(
            f"{workdir} is not empty and was not made by the demo; give another --workdir"
        )


def lock_workdir(paths: DemoPaths) -> int:
    """Hold the work directory's lock for this process (and what inherits the returned fd).

    The kernel drops a flock when its holders exit, so a lock file left by a killed demo is
    stale by construction and simply taken over. Raises DemoError when a running demo holds it.
    """
    check_workdir(paths)
    paths.workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise DemoError(f"cannot lock {paths.lock}: {exc.strerror}") from None
        by = f" (pid {holder})" if holder.isdigit() else ""
        raise DemoError(
            f"{paths.workdir} is in use by another running demo{by}; stop that one first, "
            "or give this one its own folder with --workdir DIR"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def prepare_workdir(paths: DemoPaths, *, reset: bool, sample: Path = SAMPLE_CATALOG) -> bool:
    """Create the work directory; True when the catalog was (re)copied from the sample.

    The caller holds the lock (`lock_workdir`): everything but the lock file may be replaced.
    """
    check_workdir(paths)
    workdir = paths.workdir
    if reset and workdir.exists():
        for entry in workdir.iterdir():
            if entry.name == LOCK:
                continue  # its inode is what a second demo would find locked
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    if not sample.is_dir():
        raise DemoError(f"the sample catalog {sample} is missing; run the demo from a clone")
    workdir.mkdir(parents=True, exist_ok=True)
    paths.marker.write_text("made by microcks-pipeline demo; --reset deletes this directory\n")
    # The local Microcks starts empty: state from an earlier run would claim mocks it lacks.
    for stale in (paths.status_db, Path(f"{paths.status_db}-wal"), Path(f"{paths.status_db}-shm")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(paths.dagster_home, ignore_errors=True)
    paths.dagster_home.mkdir()
    (paths.dagster_home / "dagster.yaml").write_text(instance_yaml())
    copied = not paths.catalog.exists()
    if copied:
        shutil.copytree(sample, paths.catalog)
    return copied
