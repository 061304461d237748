"""The sample illustration site: a seeded, procedurally generated raw landing zone.

`world` holds the site's entities and the generative rule, `painter` paints the images,
`corpus` writes the text-pair corpus, `activity` the year of views and bookmarks.
Everything is a pure function of (size, seed), so any Spark task can rebuild what it needs.
"""
