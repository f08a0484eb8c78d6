"""Where a sandbox keeps its servers' data: memory (a tmpfs /dev/shm) for a default-size sandbox, else $TMPDIR."""

import tempfile
from pathlib import Path

from pytest_kosmos_dr.sandbox import postgres


def test_default_size_in_memory_when_a_tmpfs_has_room_else_tmpdir(monkeypatch):
    monkeypatch.setattr(postgres, "_memory_folder_usable", lambda: True)
    disk = Path(tempfile.gettempdir())
    assert postgres.data_base() == postgres.MEMORY_FOLDER
    assert postgres.data_base("large") == disk, "gigabytes of a scaled sandbox stay on disk"
    monkeypatch.setenv(postgres.MEMORY_ENV, "0")
    assert postgres.data_base() == disk, "KOSMOS_DR_SANDBOX_IN_MEMORY=0 keeps it on disk"
    monkeypatch.delenv(postgres.MEMORY_ENV)
    monkeypatch.setattr(postgres, "_memory_folder_usable", lambda: False)
    assert postgres.data_base() == disk


def test_a_folder_that_is_not_a_tmpfs_with_room_is_not_memory(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres, "MEMORY_FOLDER", tmp_path)  # a disk folder: not in /proc/mounts as tmpfs
    assert not postgres._memory_folder_usable()
    monkeypatch.setattr(postgres, "MEMORY_FOLDER", tmp_path / "missing")
    assert not postgres._memory_folder_usable()


def test_cleanup_looks_for_leftover_data_in_memory_and_on_disk(monkeypatch, tmp_path):
    memory, disk = tmp_path / "shm", tmp_path / "tmp"
    for base in (memory, disk):
        (base / f"{postgres.DATA_PREFIX}left").mkdir(parents=True)
        (base / "someone-elses").mkdir()
    monkeypatch.setattr(postgres, "MEMORY_FOLDER", memory)
    monkeypatch.setattr(tempfile, "tempdir", str(disk))
    assert sorted(postgres.sandbox_data_folders()) == sorted([memory / f"{postgres.DATA_PREFIX}left",
                                                               disk / f"{postgres.DATA_PREFIX}left"])
    made = postgres.new_data_folder("large")  # a scaled sandbox's: on disk, where cleanup looks
    assert made.parent == disk and made.name.startswith(postgres.DATA_PREFIX) and not any(made.iterdir())
    assert made in postgres.sandbox_data_folders()
