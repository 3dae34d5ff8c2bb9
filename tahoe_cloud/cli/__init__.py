"""The ``tahoe-cloud`` command line: create-node, run, check, create-container, nurl, ..."""
