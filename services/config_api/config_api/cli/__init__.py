"""The ``carehooks`` admin command line: the config API's operations from a terminal (typer + rich)."""
