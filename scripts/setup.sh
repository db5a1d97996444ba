#!/usr/bin/env bash
# Create .venv (once) and install a requirements file into it (again only when the file changed).
# Usage: scripts/setup.sh requirements.txt|requirements-dev.txt
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=${1:-requirements.txt}
python=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv ..."
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi

# The stamp names the requirements' checksum, so an edited file installs again.
stamp=".venv/.installed-$(cat "$requirements" requirements.txt | sha256sum | cut -c1-16)-$(basename "$requirements")"
if [ ! -f "$stamp" ]; then
  echo "Installing $requirements ..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  touch "$stamp"
fi
