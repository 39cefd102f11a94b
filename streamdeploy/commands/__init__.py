"""One module per CLI command: flags in, exit code out. Kept out of cli.py so that
start-up imports only what the chosen command needs."""
