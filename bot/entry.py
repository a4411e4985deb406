"""The ``nudge`` command's entry point, light on purpose.

Worker processes (those that read mail during ``nudge import-mail``) import the program's
main module again; the console script imports only this module, so they start in a
fraction of a second instead of loading the whole command line first.
"""

from __future__ import annotations


def main() -> None:
    """Run the ``nudge`` command."""
    from bot.cli import main as run

    run()
