"""Storyspace Studio: a local web app over run directories (``app``), with model work in one
background worker (``jobs``) and every change made through the run directory's writer lock
(``edits``). The page (``static/``) is plain HTML + JavaScript, no CDN, no library."""
