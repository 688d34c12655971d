import sys

from aifab.cli import main

sys.exit(main())
