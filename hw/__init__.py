"""convflow.hw: the hardware library (HLS headers in hls/, Verilog modules in rtl/), board files (boards/) and tool-flow
drivers (flows/).  Imports nothing else of convflow."""
import os
from importlib import metadata
from pathlib import Path

HW_DIR = Path(__file__).resolve().parent
HLS_DIR = HW_DIR / "hls"              # the HLS stage library (header-only C++)
RTL_DIR = HW_DIR / "rtl"              # the Verilog stage library
BOARDS_DIR = HW_DIR / "boards"        # board and part data
TEMPLATES_DIR = HW_DIR / "templates"  # static text of generated files (csim entry, testbenches, Tcl)
# the folder a generated HLS project keeps its copy of the HLS library in (emit/hls.py writes it, csim includes it)
HLS_PROJECT_HEADER_DIR = "convflow_hls"

try:
    VERSION = metadata.version("convflow")
except metadata.PackageNotFoundError:     # running from a source tree that was never installed
    VERSION = "0+unknown"


def user_cache_dir(name: str) -> Path:
    """Where convflow keeps what it builds once per machine (tool JIT caches, the Verilator runtime, the csim
    precompiled header): $CONVFLOW_CACHE/<name>, else $XDG_CACHE_HOME/convflow/<name>, else ~/.cache/convflow/<name>."""
    base = os.environ.get("CONVFLOW_CACHE")
    if base:
        return Path(base) / name
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "convflow" / name


def render_template(name: str, **values) -> str:
    """The text of hw/templates/<name> with every ``{{key}}`` replaced by ``values[key]``.  Every placeholder must be
    given and every value used, so a template and its caller cannot drift apart silently.  Values are inserted as
    they are: the caller escapes them for the file's language (names are sanitised identifiers, text goes through
    comment_safe / c_string, part names are checked)."""
    import re

    text = (TEMPLATES_DIR / name).read_text()
    wanted = set(re.findall(r"\{\{(\w+)\}\}", text))
    if wanted != set(values):
        raise KeyError(f"template {name}: placeholders {sorted(wanted)} but values for {sorted(values)}")
    return re.sub(r"\{\{(\w+)\}\}", lambda m: str(values[m.group(1)]), text)
