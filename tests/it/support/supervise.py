"""Runs an emulator server for the integration tests (tests/it/support/emulator.rs).

usage: python supervise.py DIR COMMAND...

Runs COMMAND and kills it when this script's standard input closes: the test process that started
it ended, however it ended, so no server outlives the tests. Exits with the server's status once
it has stopped, after deleting DIR (the server's own directory: its log and files) if it was
stopped that way; a server that exited on its own leaves DIR, so its log can say why.
"""

import shutil
import subprocess
import sys
import threading

directory, command = sys.argv[1], sys.argv[2:]
server = subprocess.Popen(command, stdin=subprocess.DEVNULL)


stopped = threading.Event()


def stop_at_end_of_input():
    sys.stdin.buffer.read()
    stopped.set()
    server.kill()


threading.Thread(target=stop_at_end_of_input, daemon=True).start()
status = server.wait()
if stopped.is_set():
    shutil.rmtree(directory, ignore_errors=True)
sys.exit(status)
