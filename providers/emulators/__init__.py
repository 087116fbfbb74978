"""Local emulators of each vendor's documented API, for contract tests and sandbox mode."""
