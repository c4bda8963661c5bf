"""The demo's preparation, refusals and process handling, without starting Dagster."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from demo_fixtures import Tracker, free_ports, still_running

from microcks_pipeline.cli import demo, demo_workdir, main
from microcks_pipeline.cli import processes as demo_processes
from microcks_pipeline.defs import settings as s
from microcks_pipeline.defs.tags import ENTITY_TAG

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def listening_port():
    """A port some other program holds open on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# -- refusals: before anything starts ------------------------------------------------------


PORT_FLAGS = ("--port", "--microcks-port", "--status-port")


@pytest.mark.parametrize("flag", PORT_FLAGS)
def test_a_busy_port_is_refused_naming_its_flag_and_nothing_is_created(
    flag, listening_port, tmp_path, capsys
):
    workdir = tmp_path / "demo"
    others = [f for f in PORT_FLAGS if f != flag]
    ports = [x for pair in zip(others, map(str, free_ports(2)), strict=True) for x in pair]

    code = main(["demo", "--workdir", str(workdir), flag, str(listening_port), *ports])

    err = capsys.readouterr().err
    assert code == 2
    assert f"port {listening_port}" in err and "busy" in err and f"{flag} N" in err
    assert not workdir.exists()


def test_the_same_port_for_ui_and_microcks_is_refused(tmp_path, capsys):
    (port,) = free_ports(1)

    (status,) = free_ports(1)
    args = ["demo", "--workdir", str(tmp_path / "d"), "--port", str(port)]

    code = main([*args, "--microcks-port", str(port), "--status-port", str(status)])

    err = capsys.readouterr().err
    assert code == 2
    assert "must differ" in err and "--port" in err and "--microcks-port" in err
    assert not (tmp_path / "d").exists()


def test_a_foreign_non_empty_workdir_is_refused_and_left_untouched(tmp_path, capsys):
    workdir = tmp_path / "mine"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("keep me")
    (workdir / "status.db").write_text("not the demo's")
    ui, microcks, status = free_ports(3)

    for extra in ([], ["--reset"]):
        args = ["demo", "--workdir", str(workdir), "--port", str(ui)]
        code = main([*args, "--microcks-port", str(microcks), "--status-port", str(status), *extra])

        assert code == 2
        assert "was not made by the demo" in capsys.readouterr().err
    assert sorted(p.name for p in workdir.iterdir()) == ["notes.txt", "status.db"]
    assert (workdir / "status.db").read_text() == "not the demo's"


def test_a_workdir_that_is_a_file_is_refused(tmp_path):
    paths = demo_workdir.DemoPaths(tmp_path / "file")
    paths.workdir.write_text("x")

    with pytest.raises(demo_workdir.DemoError, match="not a directory"):
        demo_workdir.prepare_workdir(paths, reset=False)
    assert paths.workdir.read_text() == "x"


# -- one demo per work directory; ports in TIME_WAIT -----------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from microcks_pipeline.cli import demo_workdir
paths = demo_workdir.DemoPaths(Path(sys.argv[1]))
fd = demo_workdir.lock_workdir(paths)
demo_workdir.prepare_workdir(paths, reset=False)
(paths.dagster_home / "runs.db").write_text("the first demo's history")
paths.status_db.write_text("the first demo's rows")
print("holding", flush=True)
time.sleep(120)
"""


@pytest.fixture
def running_demo(tmp_path):
    """A process holding a work directory exactly as a running demo does (lock, prepared
    folder, its own status store and Dagster history), without starting Dagster."""
    workdir = tmp_path / "demo"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(workdir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield workdir, holder
    finally:
        holder.kill()
        holder.wait(10)


def _demo_cli(workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    ui, microcks, status = free_ports(3)
    command = [sys.executable, "-m", "microcks_pipeline.cli", "demo", "--workdir", str(workdir)]
    command += ["--status-port", str(status)]
    return subprocess.run(
        [*command, "--port", str(ui), "--microcks-port", str(microcks), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("extra", [[], ["--reset"]], ids=["plain", "reset"])
def test_a_second_demo_in_a_running_demos_folder_is_refused_and_harms_nothing(running_demo, extra):
    workdir, holder = running_demo
    catalog_before = sorted(p.relative_to(workdir) for p in (workdir / "catalog").rglob("*"))

    second = _demo_cli(workdir, *extra)

    assert second.returncode == 2
    assert second.stderr == (
        f"error: {workdir} is in use by another running demo (pid {holder.pid}); stop that one "
        "first, or give this one its own folder with --workdir DIR\n"
    )
    assert second.stdout == ""
    assert (workdir / "status.db").read_text() == "the first demo's rows"
    assert (workdir / "dagster_home" / "runs.db").read_text() == "the first demo's history"
    assert sorted(p.relative_to(workdir) for p in (workdir / "catalog").rglob("*")) == (
        catalog_before
    )
    assert holder.poll() is None


def test_a_lock_left_by_a_killed_demo_is_stale_and_taken_over(running_demo):
    workdir, holder = running_demo
    holder.kill()
    holder.wait(10)
    paths = demo_workdir.DemoPaths(workdir)
    assert paths.lock.read_text().strip() == str(holder.pid)  # the file outlives its holder

    fd = demo_workdir.lock_workdir(paths)
    try:
        assert paths.lock.read_text().strip() == str(os.getpid())
        with pytest.raises(demo_workdir.DemoError, match=f"pid {os.getpid()}"):
            demo_workdir.lock_workdir(paths)  # and now it is ours, refused to anyone else
    finally:
        os.close(fd)


def test_a_port_whose_last_connection_waits_in_time_wait_counts_as_free():
    # The side that closes first keeps TIME_WAIT: here the server, as after stopping a demo.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((demo.HOST, 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection((demo.HOST, port))
    served, _ = listener.accept()
    served.close()
    listener.close()
    time.sleep(0.1)
    client.close()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as plain:
        with pytest.raises(OSError):  # the old check's bind: "busy" while nothing listens
            plain.bind((demo.HOST, port))

    demo.check_ports_free(demo.HOST, {"--port": port})


# -- the work directory ----------------------------------------------------------------------


def test_prepare_copies_the_sample_catalog_once_and_keeps_edits_across_restarts(tmp_path):
    paths = demo_workdir.DemoPaths(tmp_path / "demo")
    sample = REPO / "examples" / "catalog"

    first = demo_workdir.prepare_workdir(paths, reset=False)
    edited = paths.catalog / "petstore" / "microcks.yaml"
    edited.write_text(edited.read_text() + "# edited\n")
    (paths.catalog / "legacy" / "catalog-info.yaml").unlink()
    second = demo_workdir.prepare_workdir(paths, reset=False)

    assert (first, second) == (True, False)
    assert edited.read_text().endswith("# edited\n")
    assert not (paths.catalog / "legacy" / "catalog-info.yaml").exists()
    copied = sorted(p.relative_to(paths.catalog) for p in paths.catalog.rglob("*"))
    assert len(copied) == len(list(sample.rglob("*"))) - 1


def test_prepare_recreates_status_db_and_dagster_home_every_start(tmp_path):
    # The local Microcks starts empty, so rows saying "completed" would be lies.
    paths = demo_workdir.DemoPaths(tmp_path / "demo")
    demo_workdir.prepare_workdir(paths, reset=False)
    paths.status_db.write_text("old rows")
    (paths.dagster_home / "history").mkdir()

    demo_workdir.prepare_workdir(paths, reset=False)

    assert not paths.status_db.exists()
    assert sorted(p.name for p in paths.dagster_home.iterdir()) == ["dagster.yaml"]


def test_reset_starts_over_from_the_sample_catalog(tmp_path):
    paths = demo_workdir.DemoPaths(tmp_path / "demo")
    demo_workdir.prepare_workdir(paths, reset=False)
    edited = paths.catalog / "petstore" / "microcks.yaml"
    edited.write_text("broken")
    paths.log.write_text("old log")

    copied = demo_workdir.prepare_workdir(paths, reset=True)

    assert copied
    assert edited.read_bytes() == (REPO / "examples/catalog/petstore/microcks.yaml").read_bytes()
    assert not paths.log.exists()


def test_the_demo_instance_is_sqlite_with_a_fast_queue_and_one_run_per_entity(tmp_path):
    (tmp_path / "dagster.yaml").write_text(demo_workdir.instance_yaml(max_concurrent_runs=3))

    instance = dg.DagsterInstance.from_config(str(tmp_path))

    try:
        queue = instance.get_concurrency_config().run_queue_config
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        # Runs launch in parallel: each launch waits for its run process to boot.
        assert instance.run_coordinator.dequeue_use_threads
        assert instance.run_coordinator.dequeue_num_workers == 3
        assert queue.max_concurrent_runs == 3
        assert queue.tag_concurrency_limits == [
            {"key": ENTITY_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
    finally:
        instance.dispose()


def test_dagster_env_replaces_the_callers_pipeline_settings_with_the_demos(tmp_path):
    paths = demo_workdir.DemoPaths(tmp_path)
    base = {
        "PATH": "/bin",
        s.BACKSTAGE_URL: "https://backstage.invalid",
        s.MICROCKS_URL: "https://real-microcks.invalid",
        "DAGSTER_HOME": "/elsewhere",
    }

    env = demo.demo_env(base, paths=paths, microcks_url="http://127.0.0.1:1", client_secret="x1")

    assert env["PATH"] == "/bin"
    assert s.BACKSTAGE_URL not in env
    assert env[s.MICROCKS_URL] == "http://127.0.0.1:1"
    assert env[s.MICROCKS_CLIENT_SECRET] == "x1"
    assert env["DAGSTER_HOME"] == str(paths.dagster_home)
    assert env[s.CATALOG_ROOT] == str(paths.catalog)
    assert env[s.DB_URL].startswith("sqlite:///") and env[s.DB_URL].endswith("status.db")
    assert int(env[s.CATALOG_INTERVAL]) < 5 and int(env[s.SYNC_INTERVAL]) < 5


def test_mock_url_encodes_the_service_name_as_microcks_expects():
    url = demo.mock_url("http://127.0.0.1:8585/", "My API", "bk-0123456789abcdef-default", "/a")

    assert url == "http://127.0.0.1:8585/rest/My%20API/bk-0123456789abcdef-default/a"


# -- processes -----------------------------------------------------------------------------

STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
# one child in the group, one that left it (its own session), both ignoring SIGTERM
code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
subprocess.Popen([sys.executable, "-c", code])
subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
print("started", flush=True)
time.sleep(120)
"""


def test_stop_group_kills_a_tree_that_ignores_sigterm_including_a_child_in_its_own_session(
    tmp_path,
):
    log = tmp_path / "log"
    proc = demo_processes.start_group(
        [sys.executable, "-c", STUBBORN], env={}, cwd=tmp_path, log=log
    )
    processes = Tracker(proc)
    try:
        deadline = time.monotonic() + 20
        while "started" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = processes.snapshot()
        assert len(tree) == 3

        demo_processes.stop_group(proc, grace=0.5)

        assert [p.cmdline for p in tree if still_running(p)] == []
        assert proc.returncode is not None
    finally:
        processes.kill_survivors()


RESPAWNING = """
import os, signal, subprocess, sys, time
late = (
    "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
)
def restart_then_exit(*_):  # as dagster dev restarting its code server while going down
    # Ignored dispositions survive exec: the late child ignores SIGTERM from its first
    # instruction, not only once its interpreter has started (seconds on a loaded machine).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c", late, sys.argv[1]])
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
    sys.exit(0)
signal.signal(signal.SIGTERM, restart_then_exit)
print("started", flush=True)
time.sleep(120)
"""


def test_stop_group_also_ends_a_process_started_while_the_tree_goes_down(tmp_path):
    log, late_pid = tmp_path / "log", tmp_path / "late.pid"
    command = [sys.executable, "-c", RESPAWNING, str(late_pid)]
    proc = demo_processes.start_group(command, env={}, cwd=tmp_path, log=log)
    processes = Tracker(proc)
    try:
        deadline = time.monotonic() + 20
        while "started" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)

        # The late process ignores SIGTERM, so this waits out the grace: long enough for the
        # parent to start it even on a loaded machine (Python takes seconds to start there).
        demo_processes.stop_group(proc, grace=3)

        pid = int(late_pid.read_text())
        assert not _running(pid)
        assert proc.returncode == 0  # the parent itself exited on SIGTERM
    finally:
        processes.kill_survivors()
        if late_pid.exists() and _running(pid := int(late_pid.read_text())):
            os.kill(pid, 9)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_start_group_keeps_the_child_out_of_the_callers_process_group(tmp_path):
    proc = demo_processes.start_group(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        env={},
        cwd=tmp_path,
        log=tmp_path / "log",
    )
    try:
        assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    finally:
        demo_processes.stop_group(proc, grace=1)


@dataclass
class StatusServer:
    url: str
    statuses: list[int]  # answered in order; the last one repeats
    seen: list[str]


@pytest.fixture
def status_server():
    """A real HTTP server on 127.0.0.1 answering GETs with the statuses the test lists."""
    state = StatusServer("", [404], [])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.seen.append(self.path)
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/rest/x"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_waiting_for_the_mock_ends_when_it_answers_200(status_server):
    status_server.statuses[:] = [404, 503, 200]

    answered = demo.wait_until_answers(
        status_server.url, timeout=20, alive=lambda: True, interval=0.01
    )

    assert answered
    assert status_server.seen == ["/rest/x"] * 3


def test_waiting_for_the_mock_gives_up_at_the_timeout(status_server):
    answered = demo.wait_until_answers(
        status_server.url, timeout=0.3, alive=lambda: True, interval=0.05
    )

    assert not answered
    assert status_server.seen


def test_waiting_for_the_mock_stops_when_dagster_dies(status_server):
    with pytest.raises(demo_workdir.DemoError, match="stopped before the first sync") as caught:
        demo.wait_until_answers(status_server.url, timeout=20, alive=lambda: False)

    assert caught.value.exit_code == demo_workdir.EXIT_FAILED


def test_the_demo_command_is_registered_with_its_options():
    help_text = subprocess.run(
        [sys.executable, "-m", "microcks_pipeline.cli", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    options = ("--port", "--microcks-port", "--status-port", "--workdir", "--reset")
    for option in (*options, "--ready-timeout"):
        assert option in help_text


def test_a_workdir_that_cannot_be_created_is_one_clear_line_not_a_traceback(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    ui, microcks, status = free_ports(3)

    code = main(
        ["demo", "--workdir", str(tmp_path / "afile" / "demo"), "--port", str(ui)]
        + ["--microcks-port", str(microcks), "--status-port", str(status)]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert err == f"error: cannot use {tmp_path / 'afile' / 'demo'}: Not a directory\n"
    assert (tmp_path / "afile").read_text() == "x"
