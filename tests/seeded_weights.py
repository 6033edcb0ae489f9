"""Seeded BEN2 weights for tests (the recipe lives in ``ben2_model.seeded``)."""

from ben2_model.seeded import TINY_CONFIG, seeded_model, seeded_state_dict, seeded_tensor

__all__ = ["TINY_CONFIG", "seeded_model", "seeded_state_dict", "seeded_tensor"]
