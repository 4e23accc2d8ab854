import pathlib
import sqlite3

db = sqlite3.connect("/output/result.db")
db.execute("create table if not exists words (word text, n integer)")
counts: dict[str, int] = {}
for f in sorted(pathlib.Path("/input").glob("*.txt")):
    for w in f.read_text().split():
        counts[w] = counts.get(w, 0) + 1
db.executemany("insert into words values (?, ?)", sorted(counts.items()))
db.commit()
print(f"words={sum(counts.values())} distinct={len(counts)}")
