#!/usr/bin/python
"""Ansible module: run a command in the background with a pid file and a log file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: local_process
short_description: Run a long-lived command in the background, with a pid file and a log file
description:
  - Starts O(command) in its own session (so stopping it also stops its children), with standard output
    and error appended to C(<state_dir>/<name>.log) and its pid in C(<state_dir>/<name>.pid).
  - A process whose pid file names a live process group leader is left alone, so re-running converges.
options:
  name: {description: File name stem of the pid and log files., type: str, required: true}
  command: {description: Program and arguments (no shell)., type: list, elements: str}
  state:
    description: V(restarted) stops a running process first and starts it again.
    type: str
    choices: [present, absent, restarted]
    default: present
  state_dir: {description: Folder of the pid and log files (created)., type: path, required: true}
  chdir: {description: Working directory of the process (default O(state_dir))., type: path}
  env: {description: Extra environment variables (values are secret-safe)., type: dict, default: {}}
  stop_timeout: {description: Seconds to wait after SIGTERM before SIGKILL., type: int, default: 30}
  ready_url:
    description:
      - URL that answers once the process is ready; the module waits for it, also for a running process.
      - It fails at once, with the end of the log, when the process exits while starting.
    type: str
  ready_status:
    description: Statuses of O(ready_url) that mean ready.
    type: list
    elements: int
    default: [200]
  ready_timeout: {description: Seconds to wait for readiness., type: int, default: 60}
"""

RETURN = r"""
pid: {description: Pid of the running process (0 when stopped)., type: int, returned: always}
log_file: {description: Path of the log file., type: str, returned: always}
"""


def _read_pid(pid_file):
    try:
        with open(pid_file, encoding="ascii") as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _alive(pid):
    """A live process that still leads the session we started it in (guards against a reused pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
        return os.getpgid(pid) == pid
    except OSError:
        return False


def _spawn(params, log_file):
    env = dict(os.environ)
    env.update({key: str(value) for key, value in params["env"].items()})
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            params["command"],
            cwd=params["chdir"] or params["state_dir"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        ).pid


def _start(module, pid_file, log_file):
    """Start through a short-lived intermediate process, so that the process is reparented at once and never
    gets a parent-death signal when this module exits (Envoy stops on SIGTERM when its parent exits)."""
    read_end, write_end = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        os.close(read_end)
        try:
            message = str(_spawn(module.params, log_file))
        except Exception as error:  # reported to the parent
            message = f"error: {error}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(intermediate, 0)
    if not message.isdigit():
        module.fail_json(msg=f"Could not start {module.params['name']}: {message}")
    with open(pid_file, "w", encoding="ascii") as handle:
        handle.write(f"{message}\n")
    return int(message)


def _stop(pid, timeout):
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


def _answers(url, statuses):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a configured local URL
            return response.status in statuses
    except urllib.error.HTTPError as error:
        return error.code in statuses
    except (OSError, ValueError):
        return False


def _log_tail(log_file, lines=40):
    try:
        with open(log_file, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16384))
            return b"\n".join(handle.read().splitlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return ""


def _wait_ready(module, pid, log_file):
    params = module.params
    deadline = time.monotonic() + params["ready_timeout"]
    while True:
        if _answers(params["ready_url"], params["ready_status"]):
            return
        if not _alive(pid):
            reason = "exited while starting"
        elif time.monotonic() > deadline:
            reason = f"did not answer {params['ready_url']} within {params['ready_timeout']}s"
        else:
            time.sleep(0.5)
            continue
        module.fail_json(msg=f"{params['name']} {reason}. End of {log_file}:\n{_log_tail(log_file)}", pid=pid)


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "command": {"type": "list", "elements": "str"},
            "state": {"type": "str", "choices": ["present", "absent", "restarted"], "default": "present"},
            "state_dir": {"type": "path", "required": True},
            "chdir": {"type": "path"},
            "env": {"type": "dict", "default": {}, "no_log": True},
            "stop_timeout": {"type": "int", "default": 30},
            "ready_url": {"type": "str"},
            "ready_status": {"type": "list", "elements": "int", "default": [200]},
            "ready_timeout": {"type": "int", "default": 60},
        },
        required_if=[("state", "present", ["command"]), ("state", "restarted", ["command"])],
        supports_check_mode=True,
    )
    params = module.params
    pid_file = os.path.join(params["state_dir"], f"{params['name']}.pid")
    log_file = os.path.join(params["state_dir"], f"{params['name']}.log")
    pid = _read_pid(pid_file)
    running = _alive(pid)
    wanted = params["state"]

    must_stop = running and wanted in ("absent", "restarted")
    must_start = wanted == "restarted" or (wanted == "present" and not running)
    changed = must_stop or must_start or (wanted == "absent" and os.path.exists(pid_file))
    if module.check_mode or not changed:
        if running and wanted != "absent" and params["ready_url"]:
            _wait_ready(module, pid, log_file)
        module.exit_json(changed=changed, pid=pid if running else 0, log_file=log_file)

    os.makedirs(params["state_dir"], mode=0o700, exist_ok=True)
    if must_stop:
        _stop(pid, params["stop_timeout"])
    if os.path.exists(pid_file):
        os.unlink(pid_file)
    pid = _start(module, pid_file, log_file) if must_start else 0
    if pid and params["ready_url"]:
        _wait_ready(module, pid, log_file)
    module.exit_json(changed=True, pid=pid, log_file=log_file)


if __name__ == "__main__":
    main()
