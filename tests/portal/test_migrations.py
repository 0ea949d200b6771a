"""portal 0002 moves the notification channels a citizen chose from portal.Profile to civic.User
(where civic.notices reads them) without losing a choice, and back again when unapplied."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("civic", "0004_audit_event"), ("portal", "0001_initial")]
AFTER = [("civic", "0005_user_notification_channels"), ("portal", "0002_notification_channels_to_civic_user")]
CHOICES = {  # username: (in-app, e-mail, SMS) as chosen on the profile page; None: no profile (staff)
    "quiet": (True, False, False),
    "sms-only": (False, False, True),
    "everything": (True, True, True),
    "staff": None,
}


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_channels_a_citizen_chose_move_to_their_user_and_back():
    try:
        apps = _migrate(BEFORE)
        User, Profile = apps.get_model("civic", "User"), apps.get_model("portal", "Profile")
        for username, choice in CHOICES.items():
            user = User.objects.create(username=username)
            if choice is not None:
                Profile.objects.create(user=user, notify_in_app=choice[0], notify_email=choice[1],
                                       notify_sms=choice[2])

        apps = _migrate(AFTER)
        User = apps.get_model("civic", "User")
        moved = {u.username: (u.notify_in_app, u.notify_email, u.notify_sms) for u in User.objects.all()}
        assert moved == {name: choice or (True, True, True) for name, choice in CHOICES.items()}

        User.objects.filter(username="quiet").update(notify_sms=True)  # changed after the move
        apps = _migrate(BEFORE)
        Profile = apps.get_model("portal", "Profile")
        back = {p.user.username: (p.notify_in_app, p.notify_email, p.notify_sms) for p in Profile.objects.all()}
        assert back == {**{name: choice for name, choice in CHOICES.items() if choice}, "quiet": (True, False, True)}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
