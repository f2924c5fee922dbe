"""Runs one LocalStack server for the integration tests (tests/it/support/emulator.rs).

The server is a child process, killed when this script's standard input closes (the test
process that started it ended, however it ended); this script exits when the server does.
LocalStack keeps S3 objects and multipart parts under a fixed /tmp/localstack-s3-storage, shared
by every server on the machine (one server deleting a bucket would delete another's parts), so
each server gets its own directory, S3EW_LOCALSTACK_S3_DIR, in its place. The server's
FILESYSTEM_ROOT (which holds that directory and the log) is deleted when it has stopped: the test
process leaves it behind.
"""

import os
import runpy
import shutil
import subprocess
import sys
import threading

if sys.argv[1:] == ["--server"]:
    import localstack.services.s3.provider as s3_provider

    s3_provider.DEFAULT_S3_TMP_DIR = os.environ["S3EW_LOCALSTACK_S3_DIR"]
    runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
else:
    server = subprocess.Popen([sys.executable, __file__, "--server"], stdin=subprocess.DEVNULL)

    def stop_at_end_of_input():
        sys.stdin.buffer.read()
        server.kill()

    threading.Thread(target=stop_at_end_of_input, daemon=True).start()
    status = server.wait()
    shutil.rmtree(os.environ["FILESYSTEM_ROOT"], ignore_errors=True)
    sys.exit(status)
