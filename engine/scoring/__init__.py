"""What the LLM-scored filters need besides their stages: the default rubric and the parser of a
rating reply (the stages are engine.stages.score)."""
