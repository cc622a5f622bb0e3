"""The compte rendu: what a séance's minutes hold, built into a view, rendered as room
message, Markdown, HTML, Word and PDF, and exported.
"""
