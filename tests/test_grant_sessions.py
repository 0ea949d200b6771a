"""The grant lookup is a prepared statement on PostgreSQL: it must survive a new database session."""

import pytest
from django.db import connection
from guardian.shortcuts import assign_perm

from grid import services
from grid.models import Level
from grid.permissions import forget_grants, grant_paths
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_grants_load_again_after_the_session_is_replaced(postgres):
    admin = UserFactory(username="root", is_superuser=True)
    city = services.node_create(actor=admin, parent=None, level=Level.CITY, code="1501", name="呼和浩特市")
    user = UserFactory(username="clerk")
    assign_perm("grid.view_registry", user, city)
    assert grant_paths(user, "view_registry") == [city.path]

    connection.close()  # the next query opens a new session, where nothing is prepared yet
    forget_grants(user)
    assert grant_paths(user, "view_registry") == [city.path]
    forget_grants(user)
    assert grant_paths(user, "view_registry") == [city.path]  # and the re-prepared one is reused
