"""The argument parser class of every ``numsim`` command: usage errors in one line.

Its own module, with no numsim imports, so that the subcommands that parse their own arguments
(``numsim ptq``, ``numsim golden verify``) share it without an import cycle through
:mod:`numsim.cli`.
"""

from __future__ import annotations

import argparse
import os
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``<prog>: <message> (see <prog> -h)``,
    and exit status 2 (argparse prints its usage block first; ``-h`` still shows it). Subparsers
    made from it are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} -h)\n")


def memory_bytes() -> int:
    """Physical memory of this machine in bytes (16 GiB where the system does not say): sizes
    given on the command line (``numsim golden --count``, a study's ``--param``) are checked
    against half of it before anything is allocated."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX systems
        return 16 << 30
