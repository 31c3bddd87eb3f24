"""`python -m examples.library`: run the library demo (see `examples/library/main.py`)."""

from examples.library.main import run

run()
