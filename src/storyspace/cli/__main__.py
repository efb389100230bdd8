"""``python -m storyspace.cli``."""

import sys

from storyspace.cli import main

sys.exit(main())
