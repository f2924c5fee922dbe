"""Runs one LocalStack server in host mode (under supervise.py; see emulator.rs).

LocalStack keeps S3 objects and multipart parts under a fixed /tmp/localstack-s3-storage, shared
by every server on the machine (one server deleting a bucket would delete another's parts), so
each server gets its own directory, S3EW_LOCALSTACK_S3_DIR, in its place.
"""

import os
import runpy

import localstack.services.s3.provider as s3_provider

s3_provider.DEFAULT_S3_TMP_DIR = os.environ["S3EW_LOCALSTACK_S3_DIR"]
runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
