"""ID numbers are looked up by a keyed hash (grid.idnumbers.id_number_hash), and a number may be
registered a second time as a duplicate under review (grid.DuplicateRegistration).

The unique constraint on the plain number (grid_resident_id_number) is replaced by one on the hash,
for registrations not under review (grid_resident_id_number_once): the database still guarantees one
ordinary registration per number, and no index of the numbers themselves remains.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BATCH = 2000


def fill_hashes(apps, schema_editor):
    from grid.idnumbers import id_number_hash

    Resident = apps.get_model("grid", "Resident")
    batch = []
    for resident in Resident.objects.only("pk", "id_number").iterator(chunk_size=BATCH):
        resident.id_number_hash = id_number_hash(resident.id_number)
        batch.append(resident)
        if len(batch) == BATCH:
            Resident.objects.bulk_update(batch, ["id_number_hash"])
            batch = []
    Resident.objects.bulk_update(batch, ["id_number_hash"])


class Migration(migrations.Migration):

    dependencies = [
        ("grid", "0003_visit_client_key"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="resident",
            name="id_number_hash",
            field=models.CharField(default="", editable=False, max_length=64, verbose_name="ID number look-up hash"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="resident",
            name="duplicate",
            field=models.BooleanField(default=False, editable=False,
                                      verbose_name="duplicate registration under review"),
        ),
        migrations.RunPython(fill_hashes, migrations.RunPython.noop, elidable=False),
        migrations.RemoveConstraint(model_name="resident", name="grid_resident_id_number"),
        migrations.AddConstraint(
            model_name="resident",
            constraint=models.UniqueConstraint(condition=models.Q(("duplicate", False)), fields=("id_number_hash",),
                                               name="grid_resident_id_number_once"),
        ),
        migrations.CreateModel(
            name="DuplicateRegistration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="opened at")),
                ("resolved_at", models.DateTimeField(blank=True, null=True, verbose_name="resolved at")),
                ("resolution", models.CharField(blank=True, max_length=500, verbose_name="resolution")),
                ("original", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                               related_name="+", to="grid.resident",
                                               verbose_name="earlier registration")),
                ("registered_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                                    to=settings.AUTH_USER_MODEL, verbose_name="registered by")),
                ("resident", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+",
                                               to="grid.resident", verbose_name="new registration")),
                ("resolved_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                                  related_name="+", to=settings.AUTH_USER_MODEL,
                                                  verbose_name="resolved by")),
            ],
            options={
                "verbose_name": "duplicate registration",
                "verbose_name_plural": "duplicate registrations",
                "ordering": ["-created_at", "-id"],
            },
        ),
    ]
