"""The app's screens: the explorer, and the export flow's dialogs."""
