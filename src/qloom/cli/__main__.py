"""`python -m qloom.cli ...` is the same as the `qloom` command."""

import sys

from qloom.cli import main

sys.exit(main())
