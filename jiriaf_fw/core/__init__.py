"""Pure models, parsers and renderers. Nothing in this package does I/O, starts a process or reads the clock."""
