"""The IDF's install stamp and environment cache are per (IDF folder, tools folder)."""

from mpforge.model import settings
from mpforge.source import idf


def _job(tmp_path, idf_dir: str, tools: str):
    s = settings.from_config({"mpforge": {"workdir": str(tmp_path / "w"), "idf": {"dir": idf_dir, "tools_path": tools}}})
    return settings.job(s, "esp32s3-n16r8", "v1.28.0")


def test_another_idf_or_tools_folder_is_another_stamp(tmp_path):
    """A stamp shared between two IDF checkouts (or two tools folders) would call an
    IDF installed that never was: the name must follow both paths."""
    base = idf._stamp_name(_job(tmp_path, str(tmp_path / "idf-a"), str(tmp_path / "tools-a")))
    assert base == idf._stamp_name(_job(tmp_path, str(tmp_path / "idf-a"), str(tmp_path / "tools-a")))
    assert base != idf._stamp_name(_job(tmp_path, str(tmp_path / "idf-b"), str(tmp_path / "tools-a")))
    assert base != idf._stamp_name(_job(tmp_path, str(tmp_path / "idf-a"), str(tmp_path / "tools-b")))
