import sys

from fasthook.cli import main

sys.exit(main())
