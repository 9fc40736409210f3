"""Paths and names never reach C++, make, Verilator or a terminal unescaped: an artifact or cache folder whose
name holds quotes, newlines, `#include`, `$(...)` or spaces runs bit-exact and runs nothing else; messages stay one
printable line."""
from __future__ import annotations

import numpy as np
import pytest

from convflow.runtime import Session

from .helpers import cli, one_line_error, random_ints

HOSTILE_DIRS = {
    # the exploit of the issue: csim's unity file wrote `#include "<artifact path>"` unescaped
    "include_injection": 'x"\n#include "{marker}"\n//',
    "quotes_and_spaces": "my model's \"best\" run",
    "shell": "$(touch {marker}) `id` ;|&",
    "make": "a:b=c%d#e",
    "unicode": "模型 ünï",
}


@pytest.mark.parametrize("case", list(HOSTILE_DIRS))
@pytest.mark.parametrize("backend", ["csim", "rtlsim"])
def test_a_hostile_artifact_path_runs_exact_and_nothing_else(artifact, shared_cache, tmp_path, case, backend,
                                                             monkeypatch):
    marker = tmp_path / "injected-code-ran"
    evil = tmp_path / "evil.h"
    evil.write_text(f'static int ran = [](){{ FILE* f = fopen("{marker}", "w"); return f ? fclose(f) : 0; }}();\n')
    name = HOSTILE_DIRS[case].format(marker=evil if case == "include_injection" else marker)
    art = artifact("tiny", tmp_path / name)
    monkeypatch.setenv("CONVFLOW_CACHE", str(shared_cache))
    x = random_ints(art, 30, seed=5)
    with Session(art, backend) as s:
        assert np.array_equal(s.run(x), Session(art).run(x))
    assert not marker.exists()


def test_a_cache_path_with_odd_characters(artifact, fresh_cache, tmp_path, monkeypatch):
    """Verilator and make run in the cache's work folders: their names must never break the build."""
    import shutil
    odd = tmp_path / "cache \"with\" spaces $(x) ;"
    shutil.copytree(fresh_cache, odd)
    art = artifact("tiny")
    monkeypatch.setenv("CONVFLOW_CACHE", str(odd))
    x = random_ints(art, 30, seed=6)
    for backend in ("csim", "rtlsim"):
        with Session(art, backend) as s:
            assert np.array_equal(s.run(x), Session(art).run(x))


def test_an_output_path_with_a_newline_is_still_one_line(models, tmp_path):
    target = tmp_path / "two\nlines\x1b[31m"
    target.mkdir()
    (target / "mine.txt").write_text("x")
    line = one_line_error(cli("compile", models["tiny"], "-o", target), 2, "holds files convflow did not write")
    assert "\x1b" not in line and "two; lines" in line


def test_file_names_in_an_artifact_are_checked_before_any_tool(artifact):
    """A recorded name with a quote or newline never reaches a tool or an #include (hw/integrity.py)."""
    import json
    art = artifact("tiny")
    (art / "rtl" / 'a"b.v').write_text("module x; endmodule\n")
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["files"]['rtl/a"b.v'] = "0" * 64
    (art / "manifest.json").write_text(json.dumps(manifest))
    one_line_error(cli("run", art, "--backend", "rtlsim"), 2, "characters convflow never writes")


def test_a_model_name_with_a_newline_cannot_reach_the_board_wrapper(artifact, monkeypatch):
    """The ECP5 flow writes the manifest's model name into a Verilog // comment of the board wrapper."""
    import json
    from convflow.hw.errors import ToolFailed, ToolMissing
    from convflow.hw.flows import ecp5, tools
    try:
        for tool in ("yosys", "nextpnr-ecp5", "ecppack"):
            tools.find(tool)
    except ToolMissing as exc:
        pytest.skip(str(exc))
    art = artifact("tiny")
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["model"] = "x\nmodule evil; endmodule\n//"
    (art / "manifest.json").write_text(json.dumps(manifest))
    seen = {}

    def capture(tool, args, cwd, log_name, **kwargs):        # stop before yosys runs, keep the wrapper's text
        seen["wrapper"] = (cwd / "cf_top.v").read_text()
        raise ToolFailed("stopped by the test")
    monkeypatch.setattr(tools, "run", capture)
    with pytest.raises(ToolFailed, match="stopped by the test"):
        ecp5.build(art)
    lines = seen["wrapper"].splitlines()
    assert not any(line.lstrip().startswith("module evil") for line in lines)
    assert [line for line in lines if "module evil" in line][0].startswith("// Generated")
