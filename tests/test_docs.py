"""The repository documents itself: every document a comment or docstring names is in the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A design document by name (the files data folders hold, e.g. ATTRIBUTION.md, are not meant).
NAMED = re.compile(r"(?<![\w/.-])((?:docs/)?(?:ALGORITHM|ARCHITECTURE|OFFLINE|STYLE)\.md|docs/[\w-]+\.md)")


def test_every_markdown_file_the_code_points_to_exists():
    missing = []
    for folder in ("cgcap", "deployments", "jobs", "benchmarks", "tests", "scripts", "cluster"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in {".py", ".sh", ".yaml"} or not path.is_file():
                continue
            for name in NAMED.findall(path.read_text(encoding="utf-8", errors="replace")):
                if not (ROOT / name).is_file():
                    missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing


def test_the_algorithm_document_names_only_code_that_exists():
    """Each `name` in docs/ALGORITHM.md's loop is a function, class or method of cgcap."""
    text = (ROOT / "docs/ALGORITHM.md").read_text()
    source = "\n".join(p.read_text() for p in (ROOT / "cgcap").rglob("*.py"))
    for name in ("GuidedDecoder", "ContextCacheOptimizer", "Guidance", "target_loss", "fluency_loss",
                 "expected_classifier_loss", "build_rules", "fuse", "BeamSearch", "ranked", "CachedScorer",
                 "settings_for_modalities", "select_beams", "CaptionCancelled", "DecodeBatch",
                 "score_candidates"):
        assert name in text, name
        assert re.search(rf"^\s*(def|class) {name}\b", source, re.M), name
