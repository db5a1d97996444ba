from pathlib import Path

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from patients.importing import (
    ImportFileError,
    ImportRefused,
    apply_import,
    import_turn,
    plan_import,
    write_error_workbook,
)
from patients.importing.mapping import NEW_DISTRICT, MappingError, Mappings, parse_map_option
from patients.importing.plans import GROUP_ROWS_SHOWN
from patients.models import ImportBatch, ValueAlias

MAX_GROUPS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import a workbook (xlsx or ods) with sheets patients, deliveries and/or followups. "
        "Nothing is written if any row is invalid, unless --skip-invalid. Exit status 1 when anything was refused."
    )
    # The system checks of the models the import writes; not the URL configuration's, which imports
    # every view and page (a second of start-up) and has nothing to say about an import.
    requires_system_checks = [Tags.models]

    def add_arguments(self, parser):
        parser.add_argument("path", help="The workbook to import.")
        parser.add_argument("--dry-run", action="store_true", help="Check and show what would change; write nothing.")
        parser.add_argument("--skip-invalid", action="store_true", help="Import the valid rows, skip the invalid.")
        parser.add_argument("--errors-out", metavar="XLSX", help="Write the invalid rows with a reason column here.")
        parser.add_argument(
            "--map", action="append", default=[], metavar="SPELLING=VALUE",
            help="What an unknown value means, e.g. --map 'Normal vag=normal' or --map 'Kaskii=Kaski'; saved as an "
            "alias (used by later imports, the forms and the API) when the import lands. Repeat for more. Where the "
            "value names two columns' values, say which: --map 'term: FT=term'.",
        )  # fmt: skip
        parser.add_argument(
            "--new-district", action="append", default=[], metavar="NAME",
            help="Confirm a district close to a known one (perhaps a typo of it) as a new district.",
        )  # fmt: skip

    def handle(self, *args, path, dry_run, skip_invalid, errors_out, verbosity, map, new_district, **options):
        def progress(kind, rows, total):
            return tqdm(rows, total=total, desc=f"Checking {kind}", unit=" rows", disable=verbosity < 1,
                        file=self.stderr, leave=False)  # fmt: skip

        if not Path(path).is_file():
            raise CommandError(f"No such file: {path}")
        mappings = Mappings()
        try:
            for text in map:
                mappings.add(*parse_map_option(text))
        except MappingError as error:
            raise CommandError(str(error)) from None
        for name in new_district:
            mappings.add(ValueAlias.Column.DISTRICT, name, NEW_DISTRICT)
        # Plan and write in one turn: an import running meanwhile is waited for, then seen.
        with import_turn():
            try:
                plan = plan_import(path, progress=progress, mappings=mappings)
            except ImportFileError as error:
                raise CommandError(str(error)) from None

            self.show_summary(plan)
            if plan.errors:
                self.show_errors(plan)
                if errors_out:
                    write_error_workbook(plan, errors_out)
                    self.stdout.write(f"The invalid rows, with a reason column, are in {errors_out}.")

            if dry_run:
                self.stdout.write("Dry run: nothing was written.")
            elif plan.invalid_count and not skip_invalid:
                self.stdout.write(self.style.ERROR(
                    f"Nothing was imported: {plan.invalid_count} rows are invalid. "
                    "Fix them, or use --skip-invalid to import the valid rows."
                ))  # fmt: skip
            else:
                try:
                    batch = apply_import(plan, source=ImportBatch.Source.COMMAND, skip_invalid=skip_invalid)
                except ImportRefused as refused:
                    raise CommandError(str(refused)) from None
                skipped = f", skipping {plan.invalid_count} invalid rows" if plan.invalid_count else ""
                if batch is None:
                    self.stdout.write(f"Nothing to import: no row is new or changed{skipped}.")
                else:
                    self.stdout.write(self.style.SUCCESS(f"Imported as import #{batch.pk}{skipped}."))
        if plan.invalid_count:
            raise SystemExit(1)

    def show_summary(self, plan):
        self.stdout.write(f"{plan.file_name} (SHA-256 {plan.file_sha256[:12]}…)")
        for sheet in plan.sheets.values():
            c = sheet.counts()
            self.stdout.write(
                f"  {sheet.kind:<10} {c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged, "
                f"{c['invalid']} invalid  (sheet '{sheet.title}')"
            )
            if sheet.ignored_columns:
                self.stdout.write(f"             ignored columns: {', '.join(sheet.ignored_columns)}")
        if plan.ignored_sheets:
            self.stdout.write(f"  ignored sheets: {', '.join(plan.ignored_sheets)}")
        if plan.new_districts:
            self.stdout.write(f"  new districts: {', '.join(plan.new_districts)}")
        if plan.possible_duplicates:
            shown = ", ".join(f"{d.patient_id} ~ {d.other_patient_id}" for d in plan.possible_duplicates[:5])
            more = f" and {len(plan.possible_duplicates) - 5:,} more" if len(plan.possible_duplicates) > 5 else ""
            self.stdout.write(f"  possible duplicate patients (imported all the same): {shown}{more}")

    def show_errors(self, plan):
        """One line per kind of problem (sheet, column, reason), with its first rows."""
        self.stdout.write("")
        groups = plan.error_groups()
        header = ("rows", "sheet", "column", "first rows", "problem")
        lines = []
        for group in groups[:MAX_GROUPS_SHOWN]:
            first = ", ".join(str(row) for row in group.rows[:GROUP_ROWS_SHOWN])
            more = f" +{len(group.rows) - GROUP_ROWS_SHOWN:,}" if len(group.rows) > GROUP_ROWS_SHOWN else ""
            lines.append((f"{len(group.rows):,}", group.sheet, group.column, first + more, group.reason))
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(4)]
        for line in [header, *lines]:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[4]
            )
        if len(groups) > MAX_GROUPS_SHOWN:
            self.stdout.write(
                f"... and {len(groups) - MAX_GROUPS_SHOWN} more kinds (use --errors-out to get every row)."
            )
        if plan.unmatched:
            self.stdout.write("\nValues that name nothing known; map each with --map 'VALUE=MEANING':")
            for unmatched in plan.unmatched.values():
                nearest = ", ".join(f"{s.label} ({s.value})" for s in unmatched.suggestions) or "none close"
                where = ValueAlias.Column(unmatched.column).label.lower()
                self.stdout.write(f"  {where} '{unmatched.typed}' ({len(unmatched.rows):,} rows): nearest {nearest}")
