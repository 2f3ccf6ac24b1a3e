"""`python -m koclip_kit COMMAND ...` (see koclip_kit.cli)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
