import sys

from costroute_plugins.cli import main

sys.exit(main())
