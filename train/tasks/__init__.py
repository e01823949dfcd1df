"""Per-trainer training modules (the model's training forward + loss) and their builders."""
