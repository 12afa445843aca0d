"""Headless Debian chromium with the network cut off: screenshots and rendered DOMs of local HTML."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Measured on this workplace: without the background-networking flags chromium tries the network
# many times per start. The resolver rule and a proxy on a closed port (discard, 9) make every
# http(s) request fail at once, so a page that renders here needs nothing from the network.
FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    # Chromium fast-forwards timers until the page is idle or 10 virtual seconds passed: enough for
    # vega-embed to compile and draw, without sleeping in real time.
    "--virtual-time-budget=10000",
)


def _tail(stderr: str) -> str:
    """Last lines of chromium's stderr without the D-Bus noise every container start prints."""
    return "\n".join(line for line in stderr.splitlines() if "dbus/" not in line)[-4000:]


def _run_chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run chromium once with FLAGS and a fresh profile; raise AssertionError if it fails.

    Args:
        args: flags and the URL after FLAGS.
        timeout: seconds before chromium and its helper processes are killed.

    Returns:
        The finished process with its stdout and stderr.
    """
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        raise AssertionError(f"chromium not found ({CHROMIUM}); run `make test`, which installs Debian's chromium")
    with tempfile.TemporaryDirectory(prefix="pruneflow-chromium-", ignore_cleanup_errors=True) as profile:
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
        # Own process group: on timeout the renderer/GPU helpers die with the browser.
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"chromium timed out after {timeout} s:\n{_tail(err)}") from None
    if proc.returncode:
        raise AssertionError(f"chromium failed ({proc.returncode}):\n{_tail(err)}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2400, timeout: float = 60) -> Path:
    """Render a local HTML file offline and save a width x height PNG screenshot to png."""
    png.unlink(missing_ok=True)  # a stale PNG must not pass for a new one
    proc = _run_chromium(
        [f"--window-size={width},{height}", f"--screenshot={png.resolve()}", html.resolve().as_uri()], timeout
    )
    if not png.is_file() or png.stat().st_size == 0:
        raise AssertionError(f"chromium wrote no screenshot to {png}:\n{_tail(proc.stderr)}")
    return png


def dump_dom(html: Path, timeout: float = 60) -> str:
    """Return the DOM of a local HTML file after its scripts ran offline."""
    return _run_chromium(["--dump-dom", html.resolve().as_uri()], timeout).stdout
