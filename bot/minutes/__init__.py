"""The compte rendu: what a séance's minutes hold, loaded into a record (``load``),
built into a view without the database (``build``), rendered as room message, Markdown,
HTML, Word and PDF, published and exported.
"""
