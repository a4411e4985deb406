"""One timed bulk mail import in a process of its own: ``python -m bench.mail_import N``.

Light at the top, like the ``nudge`` entry point (bot/entry.py): the import's worker
processes import this module again, so what they start with is what a user's import
starts with. Prints the emails per second.
"""

from __future__ import annotations

import asyncio
import sys


def main() -> None:
    """Import the sample company's mail (N contacts) into a fresh database, once."""
    from bench.ingest import mail_run

    print(round(asyncio.run(mail_run(int(sys.argv[1]))), 1))


if __name__ == "__main__":
    main()
