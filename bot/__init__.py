"""The ketamine-therapy decision aid: the project's own Python package.

What each module is for: README.md, "Layout" (one line per module; a test
checks that the table names every module and only paths that exist).
"""
