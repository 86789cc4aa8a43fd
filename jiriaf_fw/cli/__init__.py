"""The `jiriaf-fw` command line. Commands validate input, call a service and print what it returns."""
