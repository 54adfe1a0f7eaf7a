"""How long ``scanbox --help``, ``status`` and ``list`` take, next to ``rq info``, in one run.

    python benchmarks/cli_start.py [--before PYTHON] [--redis-url URL] [--runs N]

Runs hyperfine (Debian's ``hyperfine`` package) over each command on a database with the
rows of ``tests/fixtures/schema_5ccc6f6``; ``--before`` adds the same commands run by another
interpreter (a virtual environment with an older scanbox installed), on a copy of the
database as that scanbox made it (no ``alembic_version``). ``rq info`` reads the Redis at
``--redis-url``. Figures go to ``benchmarks/cli-start.json`` and a table to stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from tests.premigration import build_premigration  # noqa: E402
from worker.store.database import Database  # noqa: E402
from worker.store.migrations.commands import upgrade  # noqa: E402

#: A completed job of the fixture rows.
JOB_ID = "0000000000000000000000000000c004"
#: Where the figures are written.
OUTPUT = REPOSITORY / "benchmarks" / "cli-start.json"


def _database(path: Path, *, migrated: bool) -> str:
    url = f"file:{path}"
    db = Database(url=url)
    build_premigration(db)
    if migrated:
        upgrade(db)
    db.dispose()
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="Python of an older scanbox to compare with.")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    rq = shutil.which("rq", path=str(Path(sys.executable).parent))
    if shutil.which("hyperfine") is None or rq is None:
        sys.stderr.write("needs hyperfine (apt-get install hyperfine) and rq in this venv\n")
        return 2
    with tempfile.TemporaryDirectory(prefix="scanbox-cli-start-") as workdir:
        sides = [("after", sys.executable, _database(Path(workdir) / "after.db", migrated=True))]
        if options.before:
            before_url = _database(Path(workdir) / "before.db", migrated=False)
            sides.insert(0, ("before", options.before, before_url))
        commands: list[str] = []
        names: list[str] = []
        for side, python, url in sides:
            for label, args in (
                ("--help", "--help"),
                ("status", f"status {JOB_ID}"),
                ("list", "list"),
            ):
                names.append(f"{side}: scanbox {label}")
                commands.append(f"env TURSO_CONNECTION_URL={url} {python} -m worker {args}")
        names.append("rq info")
        commands.append(f"{rq} info --url {options.redis_url}")
        arguments = ["hyperfine", "-N", "--warmup", "3", "--runs", str(options.runs)]
        arguments += ["--export-json", str(Path(workdir) / "figures.json")]
        for name, command in zip(names, commands, strict=True):
            arguments += ["--command-name", name, command]
        subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL, cwd=workdir)
        figures = json.loads((Path(workdir) / "figures.json").read_text())["results"]
    rows = [
        {
            "command": row["command"],
            "median_ms": round(row["median"] * 1000, 1),
            "mean_ms": round(row["mean"] * 1000, 1),
            "stddev_ms": round(row["stddev"] * 1000, 1),
            "runs": len(row["times"]),
        }
        for row in figures
    ]
    OUTPUT.write_text(json.dumps(rows, indent=2) + "\n")
    width = max(len(row["command"]) for row in rows)
    print(f"{'command':<{width}}  median ms  mean ms  stddev")
    for row in rows:
        print(
            f"{row['command']:<{width}}  {row['median_ms']:>9}  {row['mean_ms']:>7}  "
            f"{row['stddev_ms']:>6}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
