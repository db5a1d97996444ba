"""
Fast inserts for large batches of rows that have already been checked (demo data, imports).

Multi-row INSERT statements, a few hundred rows each: about twice as fast as bulk_create,
which builds SQL per object. The database's constraints still check every row. The caller
announces the write once (patients.writes.records_written), naming the patients written.
"""

import datetime

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

    def statement(count):
        return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row_sql] * count)

    whole = len(rows) - len(rows) % per_statement
    with connection.cursor() as cursor:
        # The statements of a full chunk of rows are one statement run many times: prepared once,
        # and (with DEBUG) logged once, without quoting every parameter back into SQL.
        if whole:
            cursor.executemany(statement(per_statement), [
                [value for row in rows[start : start + per_statement] for value in row]
                for start in range(0, whole, per_statement)
            ])  # fmt: skip
        if whole < len(rows):
            cursor.execute(statement(len(rows) - whole), [value for row in rows[whole:] for value in row])


def insert_instances(model, instances):
    """Insert unsaved, validated model instances (every concrete field but the primary key).

    The instances' primary keys are not set: look the rows up by their natural key if needed.
    """
    attnames = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    insert_values(model, attnames, [[getattr(obj, name) for name in attnames] for obj in instances])


def insert_values(model, attnames, rows):
    """Insert rows of Python values (dates, decimals, ...) for the fields named by `attnames`."""
    # Only dates, times and decimals need the backend's adaptation; other values go as they are.
    # (Calling get_db_prep_save on every value costs more than the INSERTs themselves; a date's
    # adaptation depends on the date alone, so each distinct date is adapted once.)
    database = connections[DEFAULT_DB_ALIAS]
    adapt = []
    for name in attnames:
        f = model._meta.get_field(name)
        if isinstance(f, models.DateField) and not isinstance(f, models.DateTimeField):
            adapt.append(_dates_adapted(f, database))
        elif isinstance(f, (models.DateField, models.TimeField, models.DecimalField)):
            adapt.append(lambda value, f=f: f.get_db_prep_save(value, database))
        else:
            adapt.append(None)
    if any(adapt):
        rows = [[a(v) if a else v for a, v in zip(adapt, row, strict=True)] for row in rows]
    insert_rows(model, attnames, rows)


def _dates_adapted(date_field, database):
    """date_field.get_db_prep_save, remembered for each date (datetime.date exactly: other values
    go through it each time)."""
    adapted = {}

    def adapt(value):
        if value.__class__ is not _DATE:
            return date_field.get_db_prep_save(value, database)
        try:
            return adapted[value]
        except KeyError:
            result = adapted[value] = date_field.get_db_prep_save(value, database)
            return result

    return adapt


_DATE = datetime.date
