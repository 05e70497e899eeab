"""`python -m classhub start|stop`: what `make class` and `make class-stop` run. See `--help`."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from classhub import roster as rosters
from classhub import service
from grading import manifest

DEFAULT_ROOT = Path("/srv/calcml-class")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classhub", description="A class on this server: "
                                     "JupyterHub with Unix accounts, nbgrader's exchange and formgrader.")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"the class folder (default {DEFAULT_ROOT})")
    parser.add_argument("--roster", type=Path, default=Path(__file__).with_name("roster.example"),
                        help="the class list: 'instructor NAME' and 'student NAME' lines")
    parser.add_argument("--port", type=int, default=8000, help="the hub's port on localhost (it also uses the "
                        "next two: the proxy's API and the hub itself)")
    parser.add_argument("--venv", type=Path, default=Path("/opt/calcml-class/venv"),
                        help="the venv the hub and every user's server run from (make class builds it)")
    parser.add_argument("--proxy-prefix", type=Path, default=Path("/opt/calcml-class/proxy"),
                        help="npm prefix of configurable-http-proxy (installed there if missing)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.action == "stop":
        forced = service.stop(root)
        print("the class hub is stopped" + (f" (ended by force: {', '.join(forced)})" if forced else ""))
        return 0
    try:
        roster = rosters.load(args.roster)
        settings = service.start(root, roster, args.port, args.proxy_prefix.resolve(),
                                 manifest.load()["course_id"], args.venv.resolve())
    except rosters.RosterError as error:
        print(f"error: nothing was created or changed; fix the roster {args.roster}:\n{error}", file=sys.stderr)
        return 2
    except (service.ClassError, subprocess.CalledProcessError) as error:
        output = getattr(error, "stderr", None) or getattr(error, "stdout", None) or ""
        output = output.decode(errors="replace") if isinstance(output, bytes) else output
        print(f"error: {error}\n{output[-3000:]}".rstrip(), file=sys.stderr)
        return 2
    print(f"""The class hub is running: http://127.0.0.1:{settings['port']}/ (on this server; reach it from elsewhere
through an SSH tunnel or a TLS reverse proxy). Log in with a roster name and its password from
{settings['passwords']} (readable by root only).
  instructor: {settings['instructor']} (formgrader in JupyterLab; the course repository is {settings['course']})
  students:   {', '.join(settings['students']) or '(none)'}
  exchange:   {settings['exchange']}
Stop it with: make class-stop""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
