"""The configuration of the test Dovecot: plain IMAP on loopback, one user, OAuth2 on 2.3.

Dovecot 2.4 changed the syntax; its branch follows the 2.4 documentation (only 2.3 was at
hand to run it), and the ``oauth2`` passdb is set up for 2.3 only.
"""

from __future__ import annotations

import base64
import getpass
import grp
import os
import pwd
from pathlib import Path

USER = "rep"
PASSWORD = "imap-test-password-7c1e"
OAUTH2_KEY = b"nudge-test-oauth2-hs256-key-0123"


def _accounts() -> tuple[str, str, str]:
    """(login user, internal user, mail owner): Dovecot's own users as root, else ours."""
    if os.geteuid() == 0:
        return "dovenull", "dovecot", "dovecot"
    me = getpass.getuser()
    return me, me, me


def dovecot_config(root: Path, port: int, version: tuple[int, int]) -> str:
    """dovecot.conf (and the files it names) for a server rooted at ``root``."""
    login, internal, owner = _accounts()
    group = grp.getgrgid(pwd.getpwnam(owner).pw_gid).gr_name
    common = f"""protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
default_login_user = {login}
default_internal_user = {internal}
first_valid_uid = 1
verbose_proctitle = yes
imap_idle_notify_interval = 1 secs
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""
    if version >= (2, 4):
        return f"""dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
{common}auth_allow_cleartext = yes
mail_driver = maildir
mail_path = {root}/mail/%{{user}}
passdb static {{
  password = {PASSWORD}
}}
userdb static {{
  fields {{
    uid = {owner}
    gid = {group}
    home = {root}/home/%{{user}}
  }}
}}
"""
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "oauth2.conf.ext").write_text(
        f"introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={root}/keys/\n"
        "username_attribute = sub\n"
    )
    key = root / "keys" / "default" / "HS256" / "default"
    key.parent.mkdir(parents=True)
    key.write_text(base64.b64encode(OAUTH2_KEY).decode())
    return f"""{common}disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = {root}/users
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {root}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={owner} gid={group} home={root}/home/%u
}}
"""
