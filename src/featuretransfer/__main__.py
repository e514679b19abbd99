"""`python -m featuretransfer` is the `featuretransfer` command."""

import sys

from featuretransfer.cli import main

sys.exit(main())
