"""pytest fixtures and options for testing VSS receivers and producers (registered via pytest11)."""
