import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Each district's sums of the screened values (DistrictSums), kept by insights.facts; each
    patient's facts copy her own weight and height, so that her district's sums follow them; a
    patient's facts wait for her deletion to be announced. 0008 fills them in."""

    dependencies = [
        ('insights', '0006_facts_district_required'),
        ('patients', '0020_followup_trends_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='DistrictSums',
            fields=[
                ('district', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='patients.district')),
                ('followup_weight_kg_n', models.BigIntegerField()),
                ('followup_weight_kg_sum', models.FloatField()),
                ('followup_weight_kg_squares', models.FloatField()),
                ('followup_haemoglobin_g_dl_n', models.BigIntegerField()),
                ('followup_haemoglobin_g_dl_sum', models.FloatField()),
                ('followup_haemoglobin_g_dl_squares', models.FloatField()),
                ('followup_bp_systolic_n', models.BigIntegerField()),
                ('followup_bp_systolic_sum', models.FloatField()),
                ('followup_bp_systolic_squares', models.FloatField()),
                ('followup_bp_diastolic_n', models.BigIntegerField()),
                ('followup_bp_diastolic_sum', models.FloatField()),
                ('followup_bp_diastolic_squares', models.FloatField()),
                ('delivery_weight_at_delivery_n', models.BigIntegerField()),
                ('delivery_weight_at_delivery_sum', models.FloatField()),
                ('delivery_weight_at_delivery_squares', models.FloatField()),
                ('delivery_haemoglobin_at_delivery_n', models.BigIntegerField()),
                ('delivery_haemoglobin_at_delivery_sum', models.FloatField()),
                ('delivery_haemoglobin_at_delivery_squares', models.FloatField()),
                ('delivery_placental_weight_n', models.BigIntegerField()),
                ('delivery_placental_weight_sum', models.FloatField()),
                ('delivery_placental_weight_squares', models.FloatField()),
                ('patient_weight_kg_n', models.BigIntegerField()),
                ('patient_weight_kg_sum', models.FloatField()),
                ('patient_weight_kg_squares', models.FloatField()),
                ('patient_height_cm_n', models.BigIntegerField()),
                ('patient_height_cm_sum', models.FloatField()),
                ('patient_height_cm_squares', models.FloatField()),
            ],
            options={
                'verbose_name_plural': 'district sums',
            },
        ),
        migrations.AddField(
            model_name='patientfacts',
            name='patient_height_cm',
            field=models.FloatField(null=True),
        ),
        migrations.AddField(
            model_name='patientfacts',
            name='patient_weight_kg',
            field=models.FloatField(null=True),
        ),
        migrations.AlterField(
            model_name='patientfacts',
            name='patient',
            field=models.OneToOneField(on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='patients.patient'),
        ),
    ]
