"""``python -m anchorframe.emulator``: run the emulator until Ctrl-C."""

import sys

from ._cli import cli_main

if __name__ == "__main__":
    sys.exit(cli_main())
