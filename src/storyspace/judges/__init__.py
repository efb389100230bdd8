"""What reads a finished story and gives a verdict: the LLM judge (c) (``llm.py``), and the set of
scorers a story is read by, (a) the value model, (b) the independent reader and (c)
(``scorers.py``). Below ``assemble`` (which builds them) and above ``config`` and ``value``."""
