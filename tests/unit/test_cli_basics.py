import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], capture_output=True, text=True)


def test_version_prints_and_exits_zero():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("dr-bootstrap ")


def test_unknown_command_is_a_usage_error():
    r = run("no-such-command")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
