"""`python -m jiriaf_fw.services.agent` runs the JRM agent."""

import sys

from jiriaf_fw.services.agent.main import main

sys.exit(main())
