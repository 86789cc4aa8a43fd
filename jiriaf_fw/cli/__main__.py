"""`python -m jiriaf_fw.cli` runs the `jiriaf-fw` command."""

from jiriaf_fw.cli.app import main

main()
