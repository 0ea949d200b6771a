"""The notification channels a citizen chose move from portal.Profile to civic.User, where
civic.notices reads them (civic may not import portal). Each profile's choices are copied first."""

from django.db import migrations
from django.db.models import OuterRef, Subquery

CHANNELS = ("notify_email", "notify_sms", "notify_in_app")


def copy_to_user(apps, schema_editor):
    Profile = apps.get_model("portal", "Profile")
    User = apps.get_model("civic", "User")
    profiles = Profile.objects.filter(user=OuterRef("pk"))
    # Set-based: one UPDATE for every user with a profile, whatever their number.
    User.objects.filter(portal_profile__isnull=False).update(
        **{field: Subquery(profiles.values(field)[:1]) for field in CHANNELS}
    )


def copy_to_profile(apps, schema_editor):
    Profile = apps.get_model("portal", "Profile")
    User = apps.get_model("civic", "User")
    users = User.objects.filter(pk=OuterRef("user_id"))
    Profile.objects.update(**{field: Subquery(users.values(field)[:1]) for field in CHANNELS})


class Migration(migrations.Migration):

    dependencies = [
        ("civic", "0005_user_notification_channels"),
        ("portal", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(copy_to_user, copy_to_profile),
        *(migrations.RemoveField(model_name="profile", name=field) for field in CHANNELS),
    ]
