import sys

from aifab.cli import program

sys.exit(program())
