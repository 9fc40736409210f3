"""`convflow flash` (hw/flows/flash.py): the openFPGALoader command for SRAM and SPI flash, and the checks before
it runs -- the tool, the bitstream, the part it was built for.  The run against a real bitstream with no board
connected is in tests/test_ecp5_flow.py::test_bitstream_ulx3s."""
import json

import pytest

from convflow.hw.errors import ArtifactError, ToolMissing
from convflow.hw.flows import ecp5_board, flash


def _fake_build(art, device="LFE5U-85F"):
    """A bitstream directory as the ECP5 flow leaves it (contents irrelevant: these checks stop before any tool)."""
    (art / "bitstream").mkdir(parents=True)
    (art / "bitstream" / "top.bit").write_bytes(b"\xff\x00")
    (art / "bitstream" / "report.json").write_text(json.dumps({"device": device, "board": "ulx3s-25f"}))


def test_command_sram_and_flash(tmp_path):
    bit = tmp_path / "top.bit"
    assert flash.command("/usr/bin/openFPGALoader", "ulx3s", bit, False) == [
        "/usr/bin/openFPGALoader", "-b", "ulx3s", "--write-sram", str(bit)]
    assert flash.command("/usr/bin/openFPGALoader", "ulx3s", bit, True) == [
        "/usr/bin/openFPGALoader", "-b", "ulx3s", "--write-flash", "--verify", str(bit)]
    assert all(ecp5_board.board(b).programmer == "ulx3s" for b in ecp5_board.boards())


def test_missing_tool_is_tool_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(flash.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissing, match="apt-get install openfpgaloader"):
        flash.flash(tmp_path)


def test_checks_before_programming(tmp_path, monkeypatch):
    monkeypatch.setattr(flash, "find_loader", lambda: "/nonexistent/openFPGALoader")   # never reached
    with pytest.raises(ArtifactError, match="no bitstream/top.bit; build one first"):
        flash.flash(tmp_path, board="ulx3s-85f")
    _fake_build(tmp_path, device="LFE5U-25F")
    with pytest.raises(ArtifactError, match="built for LFE5U-25F .* carries an LFE5U-85F"):
        flash.flash(tmp_path, board="ulx3s-85f")
    with pytest.raises(ecp5_board.UnknownTarget, match="unknown board"):
        flash.flash(tmp_path, board="ulx3s-99f")
