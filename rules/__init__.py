"""Rules: which events become tickets and what the tickets say. Owns the Rule model, the YAML rule
file (validation, import, export), matching events against rules, rendering tickets, and the
transform task that turns a batch of CDC events into ticket requests."""
