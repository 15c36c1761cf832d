"""The role keeps envkit_index_url's credentials out of task output (at -v) and command lines: a no_log task
moves user:password@ into the netrc entries, and every command gets the bare URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fleet_loopback import ANSIBLE_DIR

PW = "AnsiblePLANTEDpw42"


def test_index_url_credentials_go_to_the_netrc_and_never_to_output(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    play = tmp_path / "play.yml"
    play.write_text(f"""---
- name: Only the role's always-tagged tasks (variables, credentials, environment)
  hosts: localhost
  gather_facts: false
  roles:
    - role: envkit
  post_tasks:
    - name: Dump what the commands would get
      ansible.builtin.copy:
        dest: {facts}
        mode: "0600"
        content: "{{{{ {{'bare': envkit_index_url_bare, 'env': envkit_task_env,
                    'machines': envkit_netrc_entries | map(attribute='machine') | list,
                    'logins': envkit_netrc_entries | map(attribute='login') | list,
                    'has_password': (envkit_netrc_entries | map(attribute='password') | list) == ['{PW}']}} | to_json }}}}"
      tags: [always]
""")
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_ROLES_PATH": str(ANSIBLE_DIR / "roles"),
           "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1"}
    playbook = Path(sys.executable).with_name("ansible-playbook")
    proc = subprocess.run([str(playbook), "-v", "-i", "localhost,", "-c", "local", str(play), "--tags", "envkit_none",
                           "-e", f"ansible_python_interpreter={sys.executable}",
                           "-e", f"envkit_profile=cpu envkit_install_source=bundle envkit_bundle=/tmp/cpu.tar "
                                 f"envkit_index_url=https://ci:{PW}@mirror.lab.example:8443/simple envkit_home={tmp_path}/home"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert PW not in proc.stdout + proc.stderr
    got = json.loads(facts.read_text())
    assert got["bare"] == "https://mirror.lab.example:8443/simple"
    assert got["machines"] == ["mirror.lab.example"] and got["logins"] == ["ci"] and got["has_password"]
    assert got["env"]["NETRC"].endswith("/netrc") and PW not in json.dumps(got["env"])
