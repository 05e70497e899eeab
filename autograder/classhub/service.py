"""Start and stop a class's hub: `start` lays out everything first (see `layout`), `stop` ends all it started.

The hub runs as root (PAM and starting servers as each user need it) in a session of its own, from the class
venv, with configurable-http-proxy from npm installed under a prefix of its own (default
/opt/calcml-class/proxy). `stop` asks the hub to stop (it stops the proxy and every user's server), then
ends by force whatever is left: the hub's process group, the proxy by its pid file, and any user's server that
still talks to this hub.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from classhub import accounts, layout
from classhub.roster import Roster

PROXY_PACKAGE = "configurable-http-proxy@5"
START_SECONDS = 180
CONFIG = Path(__file__).with_name("jupyterhub_config.py")


class ClassError(RuntimeError):
    """Something the person running `make class` must fix; the message says what."""


def ensure_proxy(prefix: Path) -> Path:
    """configurable-http-proxy under `prefix`, installed from npm the first time."""
    command = prefix / "bin" / "configurable-http-proxy"
    if not os.access(command, os.X_OK):
        if not shutil.which("npm"):
            raise ClassError("npm is missing: install Node.js and npm (sudo apt-get install nodejs npm)")
        print(f"installing {PROXY_PACKAGE} from npm into {prefix}", file=sys.stderr)
        subprocess.run(["npm", "install", "--global", "--prefix", str(prefix), "--no-audit", "--no-fund",
                        "--loglevel=error", PROXY_PACKAGE], check=True)
    return command


def check_machine() -> None:
    if os.geteuid() != 0:
        raise ClassError("make class must run as root (it creates Unix accounts, and the hub starts each "
                         "user's server as that user): sudo make class")
    missing = [tool for tool in ("useradd", "chpasswd", "runuser", "git") if not shutil.which(tool)]
    if missing:
        raise ClassError(f"missing tools: {', '.join(missing)} (a Debian or Ubuntu server has them)")


def check_reachable(venv: Path, exchange: Path, user: str) -> None:
    """A student's account must be able to run the class venv and write into the exchange."""
    probe = accounts.run_as(user, [str(venv / "bin" / "python"), "-c", "import os, sys, calcml, jupyterhub, "
                                   "nbgrader; sys.exit(not os.access(sys.argv[1], os.W_OK | os.X_OK))",
                                   str(exchange)], cwd=Path("/"), capture_output=True, text=True)
    if probe.returncode != 0:
        raise ClassError(f"the account {user!r} cannot run the class venv {venv} or write into the exchange "
                         f"{exchange}: every folder above them must be searchable by other users (chmod o+x)"
                         f"\n{probe.stderr.strip()[-800:]}")


def warn_if_students_can_read(checkout: Path) -> None:
    """Say so when other accounts can read this checkout's source/ (every solution and hidden test)."""
    path, reachable = checkout / "source", True
    for folder in [*reversed(path.parents), path]:
        reachable = reachable and bool(folder.stat().st_mode & 0o001)
    if reachable and path.stat().st_mode & 0o004:
        print(f"warning: the students' accounts can read {path} (every solution and hidden test): make this "
              f"checkout private, e.g. chmod o-rwx {checkout}", file=sys.stderr)


def hub_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hub/api", timeout=5) as response:
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def start(root: Path, roster: Roster, port: int, proxy_prefix: Path, course_id: str, venv: Path) -> dict:
    """Lay out the class (keeping what exists) and start its hub; return the settings it runs with."""
    check_machine()
    accounts.check(roster, course_id)  # before anything is created
    proxy = ensure_proxy(proxy_prefix)
    if running(root):
        print("the class hub is running: restarting it with the roster and settings of now", file=sys.stderr)
        stop(root)
    paths = layout.class_folder(root)
    accounts.ensure(roster, course_id, paths["passwords"])
    layout.exchange(paths["exchange"], roster, course_id)
    check_reachable(venv, paths["exchange"], roster.students[0] if roster.students else roster.instructor)
    course = layout.instructor_course(layout.CHECKOUT, roster, course_id, paths["exchange"], venv)
    layout.gradebook_roster(course, roster, venv)
    layout.jupyter_settings(paths["jupyter"], paths["exchange"], course_id, course)
    settings = {"port": port, "hub_port": port + 2, "proxy_api_port": port + 1, "proxy": str(proxy),
                "venv": str(venv), "course_id": course_id, "instructor": roster.instructor,
                "students": list(roster.students), "groups": accounts.group_names(course_id),
                "hub_dir": str(paths["hub"]), "jupyter_dir": str(paths["jupyter"]),
                "exchange": str(paths["exchange"]), "course": str(course), "passwords": str(paths["passwords"])}
    paths["settings"].write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    _launch(paths["hub"], paths["settings"], venv, port)
    warn_if_students_can_read(layout.CHECKOUT)
    return settings


def _launch(hub: Path, settings: Path, venv: Path, port: int) -> None:
    env = {"PATH": f"{venv / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": os.environ.get("LANG", "C.UTF-8"), "HOME": "/root", "CALCML_CLASS_SETTINGS": str(settings)}
    log = open(hub / "jupyterhub.log", "a", encoding="utf-8")  # noqa: SIM115 -- handed to the hub
    process = subprocess.Popen([str(venv / "bin" / "jupyterhub"), "-f", str(CONFIG)], cwd=hub, env=env,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    (hub / "launcher.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClassError(f"JupyterHub exited with {process.returncode}; its log:\n{_tail(hub)}")
        if hub_answers(port):
            return
        time.sleep(0.5)
    stop(hub.parent)
    raise ClassError(f"JupyterHub did not answer on port {port} within {START_SECONDS} s; its log:\n{_tail(hub)}")


def _tail(hub: Path, lines: int = 30) -> str:
    return "\n".join((hub / "jupyterhub.log").read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def running(root: Path) -> bool:
    return _pid(root / "hub" / "launcher.pid") is not None


def _user_servers(hub_port: int) -> list[psutil.Process]:
    """Users' servers still pointing at this hub's API (found by their environment, which root can read)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("JUPYTERHUB_API_URL", "").startswith(f"http://127.0.0.1:{hub_port}/"):
                found.append(process)
        except psutil.Error:
            pass
    return found


def stop(root: Path) -> list[str]:
    """Stop the hub, its proxy and every user's server; return what had to be ended by force."""
    hub = root / "hub"
    forced = []
    try:
        hub_port = json.loads((root / "settings.json").read_text(encoding="utf-8"))["hub_port"]
    except (OSError, ValueError, KeyError):
        hub_port = None
    pid = _pid(hub / "launcher.pid")
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # the hub stops the users' servers and the proxy itself
        try:
            psutil.Process(pid).wait(timeout=60)
        except psutil.TimeoutExpired:
            forced.append(f"hub {pid}")
        except psutil.Error:
            pass
        try:
            os.killpg(pid, signal.SIGKILL)  # its session: whatever it started and left behind
        except (ProcessLookupError, PermissionError):
            pass
    proxy = _pid(hub / "proxy.pid")
    if proxy is not None and "configurable-http-proxy" in " ".join(psutil.Process(proxy).cmdline()):
        os.kill(proxy, signal.SIGKILL)
        forced.append(f"proxy {proxy}")
    for server in _user_servers(hub_port) if hub_port else []:
        forced.append(f"server {server.pid}")
        for process in [*server.children(recursive=True), server]:
            try:
                process.kill()
            except psutil.Error:
                pass
    for name in ("launcher.pid", "jupyterhub.pid", "proxy.pid"):
        (hub / name).unlink(missing_ok=True)
    return forced
