"""Headless Chromium for the report tests: find the browser, run it, and read back what it laid out.

A harness page opens a report in an iframe and writes what the browser actually laid out into its own
DOM (rows per table, plus whatever the caller's script collects about the images), which ``--dump-dom``
then prints; both the bench report and the run report are checked this way.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def lay_out(page: Path, work: Path, *, images: str, collect: str) -> tuple[dict, str]:
    """``page`` as laid out: ``{"tables": {id: body rows}, "images": ...}`` and the browser's stderr.

    ``images`` is the images field's initial JSON value and ``collect`` the script that fills it from
    the report's document ``d``.
    """
    harness = work / "harness.html"
    harness.write_text(f"""<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="{page.as_uri()}" width="1200" height="900"></iframe>
<script>
window.onerror = function (m) {{ document.getElementById('out').textContent = 'ERROR ' + m; }};
document.getElementById('f').onload = function () {{
  var d = this.contentDocument, out = {{tables: {{}}, images: {images}}};
  d.querySelectorAll('table').forEach(function (t) {{ out.tables[t.id] = t.tBodies[0].rows.length; }});
  {collect}
  document.getElementById('out').textContent = 'RESULT' + JSON.stringify(out) + 'END';
}};
</script></body></html>""")
    run = chromium("--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom",
                   harness.as_uri(), profile=work / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r"RESULT(.*?)END", run.stdout, re.S)
    assert found, run.stdout[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"')), run.stderr
