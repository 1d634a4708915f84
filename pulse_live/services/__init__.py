"""The only write path. Every function: permission check, validation, one transaction with its
history rows, then events published after commit. Services never import NiceGUI."""
