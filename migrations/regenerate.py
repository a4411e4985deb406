"""Rewrite the single initial migration from the models (before the first release only).

Run ``python -m migrations.regenerate`` after changing a table. The output is deterministic
(fixed revision id and file name), so running it twice, or from two checkouts, agrees.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from migrations.runner import MIGRATIONS_DIR, alembic_config

REVISION = "0001"
TARGET = MIGRATIONS_DIR / "versions" / "0001_initial_schema.py"


def regenerate() -> Path:
    """Autogenerate against an empty SQLite database and store the result as the one revision."""
    for old in (MIGRATIONS_DIR / "versions").glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as scratch:
        config = alembic_config()
        config.set_main_option("sqlalchemy.url", f"sqlite:///{scratch}/empty.db")
        config.set_main_option("version_locations", scratch)
        command.revision(
            config, message="initial schema", autogenerate=True, rev_id=REVISION,
            version_path=scratch,
        )  # fmt: skip
        (written,) = Path(scratch).glob("*.py")
        text = written.read_text()
    text = re.sub(r"Create Date: .*\n", "", text)
    text = text.replace("import sqlmodel\n", "import sqlmodel.sql.sqltypes\n")
    TARGET.write_text(text)
    formatter = [sys.executable, "-m", "ruff", "format", "--quiet", str(TARGET)]
    subprocess.run(formatter, check=True)  # noqa: S603 -- our own interpreter and file
    return TARGET


if __name__ == "__main__":
    sys.stdout.write(f"{regenerate()}\n")
