"""What one document or operation may cost, checked before or while it runs (C10), and the
persisted documents a production API may limit itself to."""
