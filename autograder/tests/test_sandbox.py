"""The sandbox that runs student code: no network, no course secrets, an unprivileged user, and hard limits.

These tests need bubblewrap (CI installs it). They fail, rather than skip, where it is missing: a grader
without isolation must not look green.
"""

from __future__ import annotations

import socket
import sys
import textwrap
import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from grading import kernel_manager, manifest, sandbox

ROOT = manifest.ROOT
POLICY = sandbox.SandboxPolicy(wall_seconds=60, memory_bytes=1 << 30, max_processes=32, max_output_bytes=1 << 20)


def py(code: str, policy: sandbox.SandboxPolicy = POLICY, **kwargs) -> sandbox.Completed:
    return sandbox.run([sys.executable, "-c", textwrap.dedent(code)], policy, **kwargs)


def test_isolation_is_available_here() -> None:
    ok, reason = sandbox.available()
    assert ok, f"no sandbox on this machine: {reason}"


def test_a_plain_run_works_and_can_import_calcml(tmp_path) -> None:
    result = py("import calcml, numpy; print('fine', calcml.__name__)", cwd=tmp_path)
    assert result.status == "ok", result
    assert result.stdout.strip() == "fine calcml"


def test_runs_as_an_unprivileged_user_without_capabilities() -> None:
    result = py("""
        import os
        caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1]
        try:
            open('/usr/calcml-probe', 'w')
            wrote = True
        except OSError:
            wrote = False
        print(os.getuid(), os.geteuid(), int(caps, 16), wrote)
    """)
    assert result.status == "ok", result
    uid, euid, caps, wrote = result.stdout.split()
    assert int(uid) != 0 and int(euid) != 0
    assert int(caps) == 0
    assert wrote == "False"


def test_no_network_even_to_the_hosts_loopback() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the server is reachable from outside the sandbox
        result = py(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5)
                print("connected")
            except OSError as error:
                print("refused", type(error).__name__)
        """)
    finally:
        server.close()
    assert result.status == "ok", result
    assert result.stdout.startswith("refused"), result.stdout


def test_cannot_see_the_course_secrets_or_other_students(tmp_path) -> None:
    student = tmp_path / "submitted" / "alice" / "01_derivatives"
    other = tmp_path / "submitted" / "bob" / "01_derivatives"
    for folder in (student, other):
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text("private")
    gradebook = ROOT / "autograder" / "gradebook.db"
    targets = [ROOT / "source", ROOT / "source" / "README.md", gradebook, ROOT / "autograder",
               other / "notes.txt", ROOT / "course" / "units.yml", Path("/root"), Path("/etc/shadow")]
    result = py(f"""
        import os
        for path in {[str(t) for t in targets]!r}:
            try:
                with open(path, 'rb') as handle:
                    handle.read(1)
                print('READ', path)
            except IsADirectoryError:
                print('LISTED' if os.listdir(path) else 'EMPTY', path)
            except OSError:
                print('hidden', path)
        print('own', open('notes.txt').read())
    """, cwd=student)
    assert result.status == "ok", result
    lines = result.stdout.splitlines()
    assert lines[-1] == "own private"
    # /root exists only as the parent of the Python installation, if at all; nothing else is visible.
    leaks = [line for line in lines[:-1] if not (line.startswith("hidden") or line.endswith(" /root"))]
    assert not leaks, leaks
    listing = py("import os; print(sorted(os.listdir('/root')) if os.path.isdir('/root') else [])")
    assert all(name in {".pyenv"} for name in eval(listing.stdout)), listing.stdout


def test_the_graders_environment_does_not_leak(monkeypatch) -> None:
    monkeypatch.setenv("CALCML_GRADER_SECRET", "s3cret")
    result = py("import os; print(sorted(os.environ))")
    assert result.status == "ok", result
    assert "CALCML_GRADER_SECRET" not in result.stdout
    assert "'MPLBACKEND'" in result.stdout and "'OPENBLAS_NUM_THREADS'" in result.stdout


def test_memory_limit_raises_memory_error() -> None:
    result = py("blob = bytearray(4 << 30)")
    assert result.status == "memory", result
    assert "MemoryError" in result.stderr


def test_a_fork_bomb_is_contained_and_leaves_nothing_behind() -> None:
    marker = f"forkbomb-{uuid.uuid4().hex}"
    result = py(f"""
        import os, sys, time
        marker = {marker!r}
        made = 0
        for _ in range(10000):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(600)  # every child stays alive
                os._exit(0)
            made += 1
        print(made, flush=True)
        time.sleep(600)
    """, policy=POLICY.replace(wall_seconds=8))
    assert result.status == "timeout", result
    made = int(result.stdout.split()[0])
    assert 0 < made < POLICY.max_processes + 8, made
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    leftovers.append(entry.name)
            except OSError:
                pass
    assert not leftovers, f"processes survived the sandbox: {leftovers}"


def test_wall_time_limit() -> None:
    result = py("while True: pass", policy=POLICY.replace(wall_seconds=2))
    assert result.status == "timeout", result
    assert result.wall < 30


def test_cpu_time_limit() -> None:
    result = py("while True: pass", policy=POLICY.replace(cpu_seconds=1, wall_seconds=60))
    assert result.status == "timeout", result


def test_output_limit() -> None:
    result = py("import sys\nwhile True: sys.stdout.write('x' * 65536)",
                policy=POLICY.replace(max_output_bytes=100_000))
    assert result.status == "output", result
    assert len(result.stdout) <= 100_000


def test_file_size_limit(tmp_path) -> None:
    result = py("open('big', 'wb').write(b'x' * (8 << 20))", policy=POLICY.replace(max_file_bytes=1 << 20),
                cwd=tmp_path)
    assert result.status != "ok", result
    assert (tmp_path / "big").stat().st_size <= 1 << 20


def test_read_only_binds_are_read_only(tmp_path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.txt").write_text("42")
    result = py(f"""
        print(open({str(shared / 'data.txt')!r}).read())
        try:
            open({str(shared / 'new.txt')!r}, 'w')
            print('wrote')
        except OSError:
            print('read-only')
    """, policy=POLICY.replace(ro_binds=(str(shared),)))
    assert result.stdout.split() == ["42", "read-only"], result


def test_refuses_without_isolation_unless_trusted(monkeypatch) -> None:
    broken = sandbox.Isolation(False, "bwrap not found", "none", None, None)
    monkeypatch.setattr(sandbox, "isolation", lambda: broken)
    with pytest.raises(sandbox.SandboxUnavailable, match="bubblewrap") as info:
        sandbox.run([sys.executable, "-c", "print(1)"], POLICY)
    assert "--no-sandbox" in str(info.value)
    result = sandbox.run([sys.executable, "-c", "print(1)"], POLICY, trusted=True)
    assert result.status == "ok" and result.stdout.strip() == "1"


def test_sandboxed_kernel_runs_a_notebook_and_interrupts_on_timeout(tmp_path) -> None:
    cells = [
        f"import os, socket, calcml\nprint(os.getuid(), os.path.exists({str(ROOT / 'source')!r}))",
        "import time\nwhile True:\n    time.sleep(0.05)",
        "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=2)\nexcept OSError:\n    print('no network')",
    ]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells],
                            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                     "language": "python"}})
    manager = kernel_manager.SandboxedKernelManager.configured(POLICY)
    client = NotebookClient(notebook, timeout=3, kernel_name="python3", interrupt_on_timeout=True, allow_errors=True,
                            kernel_manager_class=manager, resources={"metadata": {"path": str(tmp_path)}})
    seen: list[Path] = []
    client.on_cell_executed = lambda cell, cell_index, execute_reply: seen.append(client.km.jail.dir)
    client.execute()
    uid, source_visible = notebook.cells[0].outputs[0]["text"].split()
    assert int(uid) != 0 and source_visible == "False"
    assert notebook.cells[1].outputs[-1]["ename"] == "KeyboardInterrupt"
    assert notebook.cells[2].outputs[0]["text"].strip() == "no network"
    assert seen and not seen[0].exists(), "the kernel's jail folder was not cleaned up"
    nbformat.validate(notebook)


def test_the_kernel_client_refuses_gigantic_messages() -> None:
    import zmq

    manager = kernel_manager.SandboxedKernelManager.configured(POLICY)(kernel_name="python3")
    assert manager.client_factory is kernel_manager.SandboxedKernelClient
    client = kernel_manager.SandboxedKernelClient()
    assert client.context.getsockopt(zmq.MAXMSGSIZE) == kernel_manager.MAX_MESSAGE_BYTES
    client.context.destroy()
