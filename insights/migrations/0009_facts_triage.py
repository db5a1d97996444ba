from django.db import migrations, models

import insights.models


class Migration(migrations.Migration):
    """What the high-risk list's default order reads, kept in each patient's facts; 0010 works them
    out (the defaults below stand only until then)."""

    dependencies = [
        ("insights", "0008_compute_facts"),
    ]

    operations = [
        migrations.AddField(
            model_name="patientfacts",
            name="triage_level",
            field=models.PositiveSmallIntegerField(
                default=3, help_text="Her triage priority were she high-risk (clinical.PRIORITIES: constants, no setting)."
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="patientfacts",
            name="latest_reading_date",
            field=models.DateField(
                help_text="The later of her current haemoglobin's date and her latest blood pressure's.", null=True
            ),
        ),
        migrations.AddField(
            model_name="patientfacts",
            name="patient_code",
            field=insights.models.CharactersOrderedField(
                default="", help_text="Her patient ID (Patient.patient_id).", max_length=32
            ),
            preserve_default=False,
        ),
    ]
