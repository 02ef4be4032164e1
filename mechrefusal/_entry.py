"""How every command-line entry point ends: one line naming the fix, not a traceback.

Errors meant for the user (`ValueError` and its `ArtifactError`, missing files) are raised with
messages that say what to do; an entry point run through `run_entry` prints that message alone
and exits with status 2. `--debug` anywhere on the command line shows the full traceback
instead.
"""

import sys
from collections.abc import Callable, Sequence

USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError)
DEBUG_FLAG = "--debug"


def run_entry(main: Callable[[list[str]], object], argv: Sequence[str] | None = None, *, prog=None):
    """Call `main(argv)` (argv without `--debug`); turn user errors into one line on stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    args = [a for a in args if a != DEBUG_FLAG]
    try:
        return main(args)
    except USER_ERRORS as error:
        if debug:
            raise
        name = prog or "mechrefusal"
        message = str(error) or type(error).__name__
        if (
            isinstance(error, FileNotFoundError)
            and error.filename
            and str(error.filename) not in message
        ):
            message = f"{message}: {error.filename}"
        sys.stderr.write(f"{name}: error: {message} (run with --debug for the traceback)\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
