"""Persistence of landscapes without torch: gudhi diagrams of sampled grids (`sublevel`), how
their summaries relate to generalization (`statistics`) and their plots (`plots`)."""
