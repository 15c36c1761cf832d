"""Bundles for air-gapped servers: `envkit bundle` builds one tar, `envkit setup --bundle` installs from it.

  contents.py   what a bundle must hold for a profile, platform and lock (pure: data in, data out)
  manifest.py   the bundle's manifest.json: members with sha256, system requirements (pure)
  fetch.py      the network edge: a member's bytes from a local source or the lock's URL, hash-checked
  archive.py    the reproducible tar writer and the verifying reader
  check.py      `envkit bundle --check`: contents by kind against the profile and the bundled lock (pure comparison)
  build.py      glue for `envkit bundle`: contents -> fetch -> archive
  install.py    glue for `envkit setup --bundle`: verify, unpack into the prefix, offline setup options
"""
