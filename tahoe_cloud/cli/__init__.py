"""The ``tahoe-cloud`` command line: create-node, run, nurl, announcement."""
