"""`python -m jiriaf_fw.testing.apiserver` runs the double's console entry point."""

import sys

from .main import main

sys.exit(main())
