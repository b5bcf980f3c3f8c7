"""Concert knowledge (issue 14): MusicBrainz and setlist.fm clients, jobs, imports, lineups and statistics.

Every outside call runs in the `catalog` Celery queue (`shows-worker`), never inside a request.
"""
