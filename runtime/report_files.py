"""The files of an HTML report (compare.py's and report.py's): <stem>.json, <stem>.png and <stem>.html with the
picture inline, each written atomically, the page rendered from a Jinja template under runtime/templates."""
from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"


def load_template(name: str):
    """The Jinja template ``name`` (HTML autoescaped, an undefined name an error, not an empty string)."""
    import jinja2

    from convflow.hw.errors import ToolMissing

    if not (TEMPLATES / name).is_file():
        raise ToolMissing(f"{TEMPLATES / name} is missing from this convflow installation; reinstall it")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(name)


def atomic_write(path: Path, data: bytes):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)          # mkstemp makes 0600; a report is for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report_files(report: dict, out_dir, stem: str, draw, template: str, **filters) -> dict:
    """Write ``report`` into out_dir as <stem>.json, <stem>.png (``draw(report, path)`` makes it, in a private
    temporary folder first) and <stem>.html (``template`` rendered with report, png_base64 and ``filters``);
    returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{stem}.json", "png": out / f"{stem}.png", "html": out / f"{stem}.html"}
    with tempfile.TemporaryDirectory(dir=out, prefix=f".{stem}-") as tmp:
        png = draw(report, Path(tmp) / f"{stem}.png").read_bytes()
    html = load_template(template).render(report=report, png_base64=base64.b64encode(png).decode("ascii"),
                                          **filters)
    atomic_write(paths["json"], (json.dumps(report, indent=1) + "\n").encode())
    atomic_write(paths["png"], png)
    atomic_write(paths["html"], html.encode())
    return paths
