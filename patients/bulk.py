"""
Fast inserts for large batches of rows that have already been checked (demo data, imports).

Multi-row INSERT statements, a few hundred rows each: about twice as fast as bulk_create,
which builds SQL per object. The database's constraints still check every row. They send no
signals: the caller sends patients.signals.records_changed once, naming the patients written.
"""

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

# SQLite allows 32,766 parameters per statement; stay well below it.
MAX_PARAMETERS = 900


def insert_rows(model, fields, rows):
    """Insert rows of ready database values, in the order of `fields` (names or attnames)."""
    if not rows:
        return
    # get_field() knows attnames too: "district_id" is the district foreign key's column.
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in fields)
    per_statement = max(1, MAX_PARAMETERS // len(fields))
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row_sql] * len(chunk))
            cursor.execute(sql, [value for row in chunk for value in row])


def insert_instances(model, instances):
    """Insert unsaved, validated model instances (every concrete field but the primary key).

    The instances' primary keys are not set: look the rows up by their natural key if needed.
    """
    attnames = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    insert_values(model, attnames, [[getattr(obj, name) for name in attnames] for obj in instances])


def insert_values(model, attnames, rows):
    """Insert rows of Python values (dates, decimals, ...) for the fields named by `attnames`."""
    # Only dates, times and decimals need the backend's adaptation; other values go as they are.
    # (Calling get_db_prep_save on every value costs more than the INSERTs themselves.)
    database = connections[DEFAULT_DB_ALIAS]
    adapt = []
    for name in attnames:
        f = model._meta.get_field(name)
        needs = isinstance(f, (models.DateField, models.TimeField, models.DecimalField))
        adapt.append((lambda value, f=f: f.get_db_prep_save(value, database)) if needs else None)
    if any(adapt):
        rows = [[a(v) if a else v for a, v in zip(adapt, row, strict=True)] for row in rows]
    insert_rows(model, attnames, rows)
