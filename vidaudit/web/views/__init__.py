"""Page-independent query and rendering helpers for the web view."""
