"""Tests of the cloud.s3 backend, against moto_server run as a subprocess."""
