"""``python -m bdt_client`` runs the ``bdt`` command."""

import sys

from bdt_client.cli import main

sys.exit(main())
