"""Local stand-ins for running and testing Switchboard offline. Never deployed (see .funcignore)."""
