"""Exit codes: one meaning each, documented in the README."""

OK = 0
FAILED = 1  # an operation failed, `check` found errors, or `render --check` found drift
BAD_INPUT = 2  # the description, a flag or a file the user gave is wrong
NOT_READY = 3  # a platform CLI, login or required secret is missing on this machine
# Ctrl-C or SIGTERM stopped `up` while its steps ran; whatever it had started was stopped
# first. Stopping a verified local service that serves in the foreground is how it is meant
# to end, so that is a clean stop: OK.
INTERRUPTED = 130
