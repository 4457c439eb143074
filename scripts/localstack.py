"""Shared by the bench scripts: the local stack's settings, from the one list the code keeps
(`portcullis_core::settings::local_stack`, printed by `portcullis --local env --json`)."""
import json
import os
import socket
import subprocess


def stack_env(cli, overrides):
    """`portcullis --local env --json` run with `overrides` in its environment, as a dict."""
    out = subprocess.run([cli, "--local", "env", "--json"], env=dict(os.environ, **overrides), check=True, capture_output=True, text=True)
    return {k: str(v) for k, v in json.loads(out.stdout).items()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
