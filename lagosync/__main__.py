"""``python -m lagosync``: the same command line as the ``lagosync`` script."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="lagosync")
