"""Wiring between sibling apps that may not import each other (import-linter's layers put
channels, feedback and value side by side). This package sits above them, like rapport/api.py
and rapport/urls.py, and only connects hooks one app offers to services another provides."""
