"""Support used by every layer: configuration, French text helpers, logging, in-process
signals, templates and rich text.
"""
