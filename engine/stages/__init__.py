"""Every pipeline stage, one role a file: filter -> score -> (top_n barrier) -> plan -> generate
-> verify -> write, with the exclusion writer the curation stages share and the items that flow
between the sampling stages. engine.build wires a recipe into them."""
