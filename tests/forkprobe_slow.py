"""Imported by a fork server in a test: an import that takes a while (the server forks no
lane before its imports are done)."""

import time

time.sleep(3)
