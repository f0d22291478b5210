"""A 3-step data pipeline triggered over HTTP: extract -> transform -> load.

curl -X POST localhost:8080/hooks/pipeline -d '{"text": "to be or not to be"}'
"""

from knflow import action, http_trigger, workflow


@action
def extract(text: str) -> dict:
    """Split the text into words."""
    words = text.split()
    print(f"extracted {len(words)} words")
    return {"words": words}


@action
def transform(words: list, min_length: int = 2) -> dict:
    """Count each word long enough to matter."""
    counts: dict[str, int] = {}
    for word in words:
        if len(word) >= min_length:
            counts[word.lower()] = counts.get(word.lower(), 0) + 1
    return {"counts": counts}


@action
def load(counts: dict) -> dict:
    """Rank the words (a real pipeline would write them somewhere)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {"top": [word for word, _ in ranked[:3]], "distinct": len(counts)}


@workflow(triggers=[http_trigger(path="/pipeline", method="POST", timeout="30s")])
def pipeline(text: str, min_length: int = 2):
    """Word statistics of a text."""
    words = extract(text=text)
    counts = transform(words=words["words"], min_length=min_length)
    return load(counts=counts["counts"])
