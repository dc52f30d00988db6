"""``python -m edgeaffect`` = the ``edgeaffect`` command."""
import sys

from edgeaffect.cli import main

sys.exit(main())
