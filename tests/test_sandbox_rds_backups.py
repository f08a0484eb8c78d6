"""A prepared production server's creation-time backup is taken while moto loads, and is the one
CreateDBInstance's automated snapshot lists; later backups are taken when asked."""

from types import SimpleNamespace

import pytest

pytest.importorskip("moto")

from pytest_kosmos_dr.sandbox.aws.rds_backend import BaseBackup, RealInstance, RealRds, now_utc  # noqa: E402


def test_the_first_backup_of_a_prepared_server_is_the_prepared_one(tmp_path, monkeypatch):
    import pytest_kosmos_dr.sandbox.aws.rds_backend as rds_backend

    monkeypatch.setattr(rds_backend, "prepare_data_root", lambda path: path.mkdir(parents=True, exist_ok=True))
    rds = RealRds(tmp_path)
    taken = []
    server = SimpleNamespace(base_backup=taken.append, user="kosmos", password="secret", dbname="kosmos")
    real = RealInstance("us-east-1", "kosmos-prod", server, tmp_path / "rds" / "us-east-1" / "kosmos-prod")
    prepared = BaseBackup(tmp_path / "rds" / "backups" / "prepared", now_utc(), "kosmos", "secret", "kosmos")
    real.prepared_backup = prepared

    assert rds.take_backup(real) is prepared  # nothing taken now: the server was not written since
    assert taken == [] and real.prepared_backup is None and real.backups == [prepared]
    later = rds.take_backup(real)
    assert taken == [later.path] and real.backups == [prepared, later] and later.finished_at >= prepared.finished_at
