"""The secret key: configured, or created once per data directory and kept."""

import stat
from concurrent.futures import ThreadPoolExecutor

from app.config import Settings
from app.kit.secrets import KEY_FILE, derived_key, master_key


def test_a_configured_key_is_used_and_no_file_is_written(tmp_path):
    settings = Settings(secret_key="k" * 32, data_dir=tmp_path)
    assert master_key(settings) == b"k" * 32
    assert not (tmp_path / KEY_FILE).exists()


def test_without_one_a_private_key_file_is_created_once_and_kept(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    first = master_key(settings)
    assert len(first) == 32
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert master_key(Settings(data_dir=tmp_path / "data")) == first  # a restart: the same key
    assert master_key(Settings(data_dir=tmp_path / "other")) != first


def test_processes_starting_at_once_agree_on_one_key(tmp_path):
    settings = Settings(data_dir=tmp_path)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: master_key(settings), range(32)))
    assert len(keys) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE]  # no temporary left


def test_each_purpose_gets_its_own_key(tmp_path):
    settings = Settings(secret_key="s" * 40, data_dir=tmp_path)
    cookie = derived_key(settings, "session-cookie")
    assert cookie == derived_key(settings, "session-cookie")
    assert cookie != derived_key(settings, "webhook-secrets")
    assert derived_key(Settings(secret_key="t" * 40), "session-cookie") != cookie
