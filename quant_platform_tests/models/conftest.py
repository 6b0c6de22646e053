from dataclasses import replace

import pytest

from quant_platform.models import load_model_spec
from quant_platform.models.planted_world import PlantedModelWorld, make_planted_world


def world_spec(world: PlantedModelWorld, **changes):
    """The repository spec, reading the world's feature columns (and any other field changed)."""
    return replace(load_model_spec(), features={"features_v1": world.feature_names}, **changes)


@pytest.fixture(scope="session")
def planted():
    world = PlantedModelWorld(seed=1)
    bars, features = make_planted_world(world)
    return world, bars, features
