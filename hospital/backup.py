"""Back up and restore the whole database: SQLite with its online backup API (a consistent copy
while the app runs), PostgreSQL with pg_dump and pg_restore (its custom format)."""

import os
import shutil
import sqlite3
import subprocess

from django.db import connection


class BackupError(Exception):
    pass


def backup(path):
    """Write a backup of the default database to `path`."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(path) as target:
            connection.connection.backup(target)
        target.close()
    elif connection.vendor == "postgresql":
        _run_pg("pg_dump", "--format=custom", "--no-owner", f"--file={path}")
    else:
        raise BackupError(f"No backup method for {connection.vendor}.")


def restore(path):
    """Replace the default database's contents with the backup at `path`."""
    if not os.path.exists(path):
        raise BackupError(f"No backup at {path}.")
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with sqlite3.connect(path) as source:
            source.backup(connection.connection)
        source.close()
    elif connection.vendor == "postgresql":
        connection.close()  # pg_restore --clean drops and recreates every table
        _run_pg("pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", path)
    else:
        raise BackupError(f"No restore method for {connection.vendor}.")


def _run_pg(program, *arguments):
    if shutil.which(program) is None:
        raise BackupError(f"{program} is not installed (Debian package postgresql-client).")
    settings = connection.settings_dict
    env = {**os.environ}
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = settings["PASSWORD"]
    target = [f"--dbname={settings['NAME']}", f"--host={settings.get('HOST') or 'localhost'}",
              f"--port={settings.get('PORT') or 5432}", f"--username={settings.get('USER') or 'postgres'}"]  # fmt: skip
    result = subprocess.run([program, *target, *arguments], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{program} failed: {result.stderr.strip()}")
