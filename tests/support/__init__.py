"""What tests share across apps: the parallel-race harness (race.py); fixtures live in tests/conftest.py."""
