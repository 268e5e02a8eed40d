"""The model loop: one step in a fresh session (`session`), many steps (`run`), the prompts
the model sees (`prompts`), and `ralph plan`'s drafter (`draft`)."""
