"""The facts the clinical risk rules read (hypertension, triage priority, risk factors).

Facts are derived data: the table is made again with its columns in the model's order (a column
PostgreSQL reads on every row of an analysis is cheaper near the start of the row than appended at
its end); every patient's facts are worked out again by 0005_facts_district. The two new NOT NULL
columns have database defaults, so code of the previous release writing facts during a rolling
deploy still succeeds.
"""

import django.db.models.deletion
from django.db import migrations, models


def compute_facts(apps, schema_editor):
    """Nothing now: 0005_facts_district works out every patient's facts. It runs today's
    insights.facts, which writes the facts' table as the latest migration leaves it."""


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0002_stored_facts"),
    ]

    operations = [
        migrations.DeleteModel(name="PatientFacts"),
        migrations.CreateModel(
            name="PatientFacts",
            fields=[
                (
                    "patient",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="patients.patient",
                    ),
                ),
                ("n_followups", models.PositiveIntegerField()),
                ("n_deliveries", models.PositiveIntegerField()),
                ("n_caesarean", models.PositiveIntegerField()),
                (
                    "n_preterm",
                    models.PositiveIntegerField(db_default=0, help_text="Her deliveries recorded as preterm."),
                ),
                ("latest_delivery_date", models.DateField(null=True)),
                ("latest_delivery_type", models.CharField(max_length=10, null=True)),
                (
                    "anaemia_keyword",
                    models.BooleanField(help_text="Her condition or a follow-up's diagnosis mentions anaemia."),
                ),
                (
                    "hypertension_keyword",
                    models.BooleanField(
                        db_default=False,
                        help_text="Her condition or a follow-up's diagnosis names a hypertensive disorder.",
                    ),
                ),
                (
                    "current_haemoglobin_g_dl",
                    models.FloatField(help_text="Her latest reading (clinical.latest_reading).", null=True),
                ),
                ("current_haemoglobin_date", models.DateField(null=True)),
                (
                    "latest_bp_systolic",
                    models.PositiveSmallIntegerField(
                        help_text="Her latest blood pressure (clinical.latest_blood_pressure), mmHg.", null=True
                    ),
                ),
                ("latest_bp_diastolic", models.PositiveSmallIntegerField(null=True)),
                ("latest_bp_date", models.DateField(null=True)),
                ("latest_visit_date", models.DateField(help_text="Her latest follow-up's date.", null=True)),
                ("first_haemoglobin_g_dl", models.FloatField(null=True)),
                ("n_haemoglobin_readings", models.PositiveIntegerField(help_text="At deliveries and follow-ups.")),
                ("first_followup_weight_kg", models.FloatField(null=True)),
                ("latest_followup_weight_kg", models.FloatField(null=True)),
                ("n_followup_weights", models.PositiveIntegerField()),
                ("first_followup_haemoglobin_g_dl", models.FloatField(null=True)),
                ("latest_followup_haemoglobin_g_dl", models.FloatField(null=True)),
                ("n_followup_haemoglobin", models.PositiveIntegerField()),
                (
                    "days_to_first_followup",
                    models.IntegerField(
                        help_text="From her latest delivery to her first follow-up on or after it.", null=True
                    ),
                ),
                ("followup_weight_kg_n", models.PositiveIntegerField()),
                ("followup_weight_kg_sum", models.FloatField(null=True)),
                ("followup_weight_kg_squares", models.FloatField(null=True)),
                ("followup_weight_kg_lowest", models.FloatField(null=True)),
                ("followup_weight_kg_highest", models.FloatField(null=True)),
                ("followup_haemoglobin_g_dl_n", models.PositiveIntegerField()),
                ("followup_haemoglobin_g_dl_sum", models.FloatField(null=True)),
                ("followup_haemoglobin_g_dl_squares", models.FloatField(null=True)),
                ("followup_haemoglobin_g_dl_lowest", models.FloatField(null=True)),
                ("followup_haemoglobin_g_dl_highest", models.FloatField(null=True)),
                ("followup_bp_systolic_n", models.PositiveIntegerField()),
                ("followup_bp_systolic_sum", models.FloatField(null=True)),
                ("followup_bp_systolic_squares", models.FloatField(null=True)),
                ("followup_bp_systolic_lowest", models.FloatField(null=True)),
                ("followup_bp_systolic_highest", models.FloatField(null=True)),
                ("followup_bp_diastolic_n", models.PositiveIntegerField()),
                ("followup_bp_diastolic_sum", models.FloatField(null=True)),
                ("followup_bp_diastolic_squares", models.FloatField(null=True)),
                ("followup_bp_diastolic_lowest", models.FloatField(null=True)),
                ("followup_bp_diastolic_highest", models.FloatField(null=True)),
                ("delivery_weight_at_delivery_n", models.PositiveIntegerField()),
                ("delivery_weight_at_delivery_sum", models.FloatField(null=True)),
                ("delivery_weight_at_delivery_squares", models.FloatField(null=True)),
                ("delivery_weight_at_delivery_lowest", models.FloatField(null=True)),
                ("delivery_weight_at_delivery_highest", models.FloatField(null=True)),
                ("delivery_haemoglobin_at_delivery_n", models.PositiveIntegerField()),
                ("delivery_haemoglobin_at_delivery_sum", models.FloatField(null=True)),
                ("delivery_haemoglobin_at_delivery_squares", models.FloatField(null=True)),
                ("delivery_haemoglobin_at_delivery_lowest", models.FloatField(null=True)),
                ("delivery_haemoglobin_at_delivery_highest", models.FloatField(null=True)),
                ("delivery_placental_weight_n", models.PositiveIntegerField()),
                ("delivery_placental_weight_sum", models.FloatField(null=True)),
                ("delivery_placental_weight_squares", models.FloatField(null=True)),
                ("delivery_placental_weight_lowest", models.FloatField(null=True)),
                ("delivery_placental_weight_highest", models.FloatField(null=True)),
            ],
            options={
                "verbose_name_plural": "patient facts",
            },
        ),
        migrations.RunPython(compute_facts, migrations.RunPython.noop, elidable=True),
    ]
