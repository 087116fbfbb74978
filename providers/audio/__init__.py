"""Audio providers for the cut (voice-over and music for takes that have no sound of their own)."""
