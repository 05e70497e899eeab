"""A gradebook several graders share: nbgrader's `db_url` on PostgreSQL gives the grades SQLite gives, and two
formgrader sessions saving manual grades at once lose neither.

The course's nbgrader config reads the gradebook's address from `CALCML_DB_URL` (SQLite beside the config when it
is unset), so `make grade`, `make feedback`, `make export`, nbgrader's commands and formgrader all follow it. This
test starts a private PostgreSQL cluster from Debian's `postgresql` package (as the `postgres` user when run as
root, as the current user otherwise) in a temporary folder, on a free port of 127.0.0.1, with a password, and
stops it at the end.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from grading import grade, manifest, samples, submissions, workspace

UNIT = "01_derivatives"
ENTRY = manifest.unit(UNIT)
NOTEBOOK = f"{ENTRY['notebook']}.ipynb"
STUDENTS = ("correct", "wrong", "untouched", "partial")
ENV = "CALCML_DB_URL"

# One worker takes the whole module under `pytest -n --dist loadgroup`, so the class is graded once, not per worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gradebook_postgres")]


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL server's bin folder (`/usr/lib/postgresql/<version>/bin`), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL cluster: `initdb` and `pg_ctl` in a private folder, password authentication only."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.folder = Path(tempfile.mkdtemp(prefix="calcml-pg-"))
        # PostgreSQL refuses to run as root: as root, the cluster belongs to Debian's `postgres` account.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            os.chown(self.folder, pwd.getpwnam(self.user).pw_uid, -1)
        (self.folder / "pw").write_text(self.password + "\n")
        if self.user:
            os.chown(self.folder / "pw", pwd.getpwnam(self.user).pw_uid, -1)

    def run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.folder / "log"
            raise RuntimeError(f"{command[0]} failed: {result.stdout}\n{result.stderr}\n"
                               f"{log.read_text() if log.exists() else ''}")

    def start(self) -> None:
        data = self.folder / "data"
        self.run(str(self.bin / "initdb"), "-D", str(data), "-U", "calcml", f"--pwfile={self.folder / 'pw'}",
                 "--auth=scram-sha-256", "-E", "UTF8", "--no-sync")
        # A test cluster: durability settings off, sockets only in its own folder and on 127.0.0.1.
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self.run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"), "-w", "-t", "60",
                 "-o", options, "start")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://calcml:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="module")
def cluster():
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server here (Debian package `postgresql`: /usr/lib/postgresql/*/bin/initdb)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without Debian's `postgres` account, which PostgreSQL must run as")
    pytest.importorskip("psycopg", reason="psycopg (3) is missing: pip install -e './lib[postgres]'")
    server = Cluster(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def options(root: Path, **changes) -> grade.Options:
    base = dict(workers=2, cell_timeout=60, notebook_timeout=400, integrity=True, report=True, progress=False,
                config=root / "autograder" / "nbgrader_config.py")
    base.update(changes)
    return grade.Options(**base)


def course_copy(parent: Path, name: str, secret: bytes) -> Path:
    """A course copy with the sample class submitted and the given seed secret (the same hidden inputs)."""
    root = workspace.create(parent / name)
    for student, notebook in samples.samples(ENTRY).items():
        if student in STUDENTS:
            submissions.write(notebook, root / "autograder" / "submitted" / student / UNIT / NOTEBOOK)
    secret_file = root / "autograder" / ".seed_secret"
    secret_file.write_bytes(secret)
    secret_file.chmod(0o600)
    return root


def gradebook_dump(url: str) -> dict:
    """Everything the gradebook says about the unit's submissions, without row ids and timestamps."""
    from nbgrader.api import Gradebook

    drop = {"id", "timestamp", "notebook", "assignment", "student"}
    dump: dict = {}
    with Gradebook(url, manifest.load()["course_id"]) as gb:
        assignment = gb.find_assignment(UNIT)
        dump["assignment"] = {"max_score": assignment.max_score, "notebooks": [n.name for n in assignment.notebooks],
                              "students": sorted(s.id for s in gb.students)}
        for submission in sorted(gb.assignment_submissions(UNIT), key=lambda s: s.student.id):
            entry = {k: v for k, v in submission.to_dict().items() if k not in drop}
            for notebook in submission.notebooks:
                entry[notebook.name] = {
                    "grades": {g.name: {k: v for k, v in g.to_dict().items() if k not in drop}
                               for g in notebook.grades},
                    "comments": {c.name: {k: v for k, v in c.to_dict().items() if k not in drop}
                                 for c in notebook.comments},
                }
            dump[submission.student.id] = entry
    return dump


def results_dump(results) -> dict:
    return {r.student: (r.status, r.score, r.max_score, r.exercises, r.integrity, r.notes) for r in results}


def grades_csv(root: Path) -> list[dict]:
    with open(root / "autograder" / "grades.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "timestamp"} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def graded(cluster, tmp_path_factory):
    """The same class graded twice, into SQLite (the default) and into PostgreSQL (through CALCML_DB_URL)."""
    parent = tmp_path_factory.mktemp("gradebooks")
    secret = secrets.token_hex(32).encode() + b"\n"
    sqlite_root = course_copy(parent, "sqlite", secret)
    postgres_root = course_copy(parent, "postgres", secret)
    url = cluster.create_database("calcml_gradebook")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(ENV, raising=False)
        sqlite_results = grade.grade(UNIT, options(sqlite_root))
        patch.setenv(ENV, url)
        postgres_results = grade.grade(UNIT, options(postgres_root))
    return {"sqlite": (sqlite_root, f"sqlite:///{sqlite_root / 'autograder' / 'gradebook.db'}", sqlite_results),
            "postgres": (postgres_root, url, postgres_results)}


def test_postgres_gradebook_holds_the_grades_sqlite_holds(graded) -> None:
    sqlite_root, sqlite_url, sqlite_results = graded["sqlite"]
    postgres_root, postgres_url, postgres_results = graded["postgres"]
    # The grades really went where the URL says: no SQLite file beside the PostgreSQL run's config.
    assert (sqlite_root / "autograder" / "gradebook.db").exists()
    assert not (postgres_root / "autograder" / "gradebook.db").exists()
    sqlite, postgres = gradebook_dump(sqlite_url), gradebook_dump(postgres_url)
    assert set(sqlite) == {"assignment", *STUDENTS}
    assert postgres == sqlite
    assert results_dump(postgres_results) == results_dump(sqlite_results)
    assert {r.status for r in postgres_results} == {"graded"}
    scores = {r.student: r.score for r in postgres_results}
    assert scores["correct"] == sqlite["assignment"]["max_score"] > scores["partial"] > scores["untouched"] == 0
    # The report's export reads the gradebook through the same config: grades.csv is the same.
    assert grades_csv(postgres_root) == grades_csv(sqlite_root)
    assert len(grades_csv(postgres_root)) == len(STUDENTS)


def test_the_gradebook_address_comes_from_the_environment(graded, monkeypatch) -> None:
    from grading.config import course_directory, load_config

    postgres_root, url, _ = graded["postgres"]
    config = postgres_root / "autograder" / "nbgrader_config.py"
    monkeypatch.setenv(ENV, url)
    assert course_directory(load_config(config)).db_url == url
    monkeypatch.delenv(ENV)
    assert course_directory(load_config(config)).db_url == f"sqlite:///{postgres_root / 'autograder' / 'gradebook.db'}"


# ---- two formgrader sessions at once


def save_manual_grade(gb, grade_id: str, score: float | None) -> None:
    """What formgrader does when a grader saves a manual score: nbgrader 0.9's `GradeHandler.put`
    (nbgrader/server_extensions/formgrader/apihandlers.py), on that formgrader's own Gradebook session."""
    grade_row = gb.find_grade_by_id(grade_id)
    grade_row.manual_score = score
    grade_row.extra_credit = None
    grade_row.needs_manual_grade = grade_row.manual_score is None and grade_row.auto_score is None
    gb.db.commit()


def grade_ids(url: str, student: str) -> dict[str, str]:
    from nbgrader.api import Gradebook

    with Gradebook(url, manifest.load()["course_id"]) as gb:
        notebook = gb.find_submission_notebook(ENTRY["notebook"], UNIT, student)
        return {g.name: g.id for g in notebook.grades if g.max_score}


def manual_scores(url: str, ids: list[str]) -> list[float | None]:
    from nbgrader.api import Gradebook

    with Gradebook(url, manifest.load()["course_id"]) as gb:
        return [gb.find_grade_by_id(i).manual_score for i in ids]


def two_sessions(url: str, work, timeout: float = 60) -> None:
    """Run `work(session_number, gradebook)` in two threads, each with its own Gradebook (engine, connection,
    transaction), as two formgrader servers hold; raise the first error either met."""
    from nbgrader.api import Gradebook

    errors: list[BaseException] = []

    def one(number: int) -> None:
        try:
            with Gradebook(url, manifest.load()["course_id"]) as gb:
                work(number, gb)
        except BaseException as error:  # noqa: BLE001 -- reported in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=one, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a grading session hung"
    if errors:
        raise errors[0]


def test_two_sessions_saving_grades_of_different_cells_at_once_keep_both(graded) -> None:
    _, url, _ = graded["postgres"]
    ids = list(grade_ids(url, "wrong").values())[:2]
    assert len(ids) == 2
    for round_ in range(8):
        values = [round_ + 0.25, round_ + 0.5]
        barrier = threading.Barrier(2, timeout=30)

        def work(number: int, gb, barrier=barrier, values=values) -> None:
            gb.find_grade_by_id(ids[number])  # the page is open: the grade is loaded, a transaction is open
            barrier.wait()  # both save at the same moment
            save_manual_grade(gb, ids[number], values[number])

        two_sessions(url, work)
        assert manual_scores(url, ids) == values, f"round {round_}: a concurrent save was lost"


def test_two_sessions_saving_the_same_cell_the_last_save_wins(graded) -> None:
    """Both graders opened the cell before either saved; the one who saves last sets the grade (nbgrader keeps no
    version column, so there is no conflict error: the later save overwrites, as with one grader saving twice)."""
    _, url, _ = graded["postgres"]
    target = list(grade_ids(url, "partial").values())[0]
    opened = threading.Barrier(2, timeout=30)
    first_saved = threading.Event()

    def work(number: int, gb) -> None:
        gb.find_grade_by_id(target)
        opened.wait()
        if number == 0:
            save_manual_grade(gb, target, 0.5)
            first_saved.set()
        else:
            assert first_saved.wait(30)
            save_manual_grade(gb, target, 0.75)

    two_sessions(url, work)
    assert manual_scores(url, [target]) == [0.75]
    # Saved at the very same moment: no error, no deadlock, and the grade is one of the two saves.
    at_once = threading.Barrier(2, timeout=30)

    def race(number: int, gb) -> None:
        gb.find_grade_by_id(target)
        at_once.wait()
        save_manual_grade(gb, target, (1.0, 1.5)[number])

    two_sessions(url, race)
    assert manual_scores(url, [target])[0] in (1.0, 1.5)
