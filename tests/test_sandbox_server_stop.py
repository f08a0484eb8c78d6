"""A sandbox server's removal: the postmaster quits at once (SIGQUIT, as ``pg_ctl -m immediate``) and is
waited for; a pid file that names another process never gets that process signalled."""

import subprocess
import sys

import pytest

pytest.importorskip("psycopg")

from pytest_kosmos_dr.sandbox import postgres  # noqa: E402


@pytest.fixture
def server(tmp_path):
    folder = postgres.new_data_folder()
    made = postgres.PostgresServer(folder / "pgdata", user="admin", password="pw-for-the-test")
    made.initdb()
    made.start()
    yield made
    made.remove()
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_a_removed_server_is_gone_with_its_folders(server, monkeypatch):
    pid = int((server.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    stopped_by_pg_ctl = []
    monkeypatch.setattr(server, "stop", lambda mode="fast": stopped_by_pg_ctl.append(mode))
    server.remove()
    assert not stopped_by_pg_ctl, "the postmaster quit through its pid, without pg_ctl's 100 ms polling"
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    assert state == "" or state.startswith("Z"), f"the postmaster {pid} still runs ({state})"
    assert not server.data_dir.exists() and not server.log_file.exists()


def test_a_stale_pid_file_never_signals_another_process(server, monkeypatch):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        real = (server.data_dir / "postmaster.pid").read_text()
        (server.data_dir / "postmaster.pid").write_text(f"{bystander.pid}\n" + real.split("\n", 1)[1])
        assert server.quit_now() is False, "the pid is not this server's postmaster: left to pg_ctl"
        assert bystander.poll() is None, "the process the stale pid file names was not signalled"
    finally:
        bystander.kill()
        bystander.wait()
        (server.data_dir / "postmaster.pid").write_text(real)
