"""CLI tests, one module per command area (a package so basenames may repeat tests/)."""
