"""The editorial overview: the numbers a managing editor asks for, drawn as charts with their tables."""
