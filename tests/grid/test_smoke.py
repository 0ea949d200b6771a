def test_city_builds(city):
    assert city.nodes["A1g1"].get_parent() == city.nodes["A1"]
