"""The public site: what readers see of the published record (articles, versions, lists, the
reviewer directory, reviewer and writer pages, feeds, sitemap and robots.txt), its HTTP caching and
the page cache. It only reads: publishing, unpublishing and re-review are in ``publishing``."""
