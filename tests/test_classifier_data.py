"""The classifier's data: cleaning, counts, stratified seeded splits, the dataset hash, refusals."""

import gzip
import json
from pathlib import Path

import pytest

from cgcap.classifier.data import DatasetError, SplitSettings, evaluation_split, load_dataset



def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def sentence_files(tmp_path):
    positives = [f"A dog barks number {i}." for i in range(40)]
    negatives = [f"A painting hangs on wall {i}." for i in range(50)]
    return (write_lines(tmp_path / "audible.txt", positives), write_lines(tmp_path / "not_audible.txt", negatives),
            positives, negatives)


def test_duplicates_and_sentences_in_both_classes_are_dropped_and_counted(tmp_path):
    positives = ["A bell rings.", "A bell rings.", "  A  bell rings. ", "Thunder rolls.", "A cat sits."]
    positives += [f"Drums {i}." for i in range(6)]
    negatives = ["A cat sits.", "A cat sits.", "A quiet lake."] + [f"A chair {i}." for i in range(6)]
    dataset = load_dataset(write_lines(tmp_path / "p.txt", positives), write_lines(tmp_path / "n.txt", negatives))
    counts = dataset.counts
    assert (counts.read_positive, counts.read_negative) == (11, 9)
    assert counts.duplicates_dropped == 3  # two re-spaced/repeated bells, one repeated cat
    assert counts.conflicts_dropped == 1  # "A cat sits." was in both classes
    assert (counts.positive, counts.negative) == (8, 7)
    every = dataset.train.texts + dataset.validation.texts + dataset.test.texts
    assert "A cat sits." not in every
    assert every.count("A bell rings.") == 1


def test_split_is_stratified_disjoint_and_covers_every_sentence(sentence_files):
    positives_file, negatives_file, positives, negatives = sentence_files
    dataset = load_dataset(positives_file, negatives_file, split_settings=SplitSettings(seed=3))
    parts = [dataset.train, dataset.validation, dataset.test]
    texts = [set(part.texts) for part in parts]
    assert texts[0].isdisjoint(texts[1]) and texts[0].isdisjoint(texts[2]) and texts[1].isdisjoint(texts[2])
    assert set().union(*texts) == set(positives) | set(negatives)
    for part, expected_positive in ((dataset.test, 4), (dataset.validation, 4)):  # 10% of 40
        assert sum(part.labels) == expected_positive
        assert len(part) - sum(part.labels) == 5  # 10% of 50
    for part in parts:
        for text, label in zip(part.texts, part.labels):
            assert label == (1 if "barks" in text else 0)
    assert (dataset.counts.train, dataset.counts.validation, dataset.counts.test) == (72, 9, 9)


def test_split_depends_on_the_seed_and_not_on_file_order(tmp_path, sentence_files):
    positives_file, negatives_file, positives, negatives = sentence_files
    first = load_dataset(positives_file, negatives_file, split_settings=SplitSettings(seed=1))
    again = load_dataset(write_lines(tmp_path / "p2.txt", positives[::-1]),
                         write_lines(tmp_path / "n2.txt", negatives[::-1]), split_settings=SplitSettings(seed=1))
    other_seed = load_dataset(positives_file, negatives_file, split_settings=SplitSettings(seed=2))
    assert first.test == again.test and first.dataset_hash == again.dataset_hash
    assert set(other_seed.test.texts) != set(first.test.texts)
    assert other_seed.dataset_hash == first.dataset_hash  # same data, another split


def test_jsonl_and_two_files_with_the_same_sentences_are_the_same_dataset(tmp_path, sentence_files):
    positives_file, negatives_file, positives, negatives = sentence_files
    records = [{"text": s, "label": 1} for s in positives] + [{"text": s, "label": 0} for s in negatives]
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records[::-1]) + "\n")
    from_files = load_dataset(positives_file, negatives_file)
    from_jsonl = load_dataset(jsonl=jsonl)
    assert from_jsonl.dataset_hash == from_files.dataset_hash
    assert from_jsonl.test == from_files.test


def test_changing_one_sentence_changes_the_hash(tmp_path, sentence_files):
    positives_file, negatives_file, positives, negatives = sentence_files
    changed = write_lines(tmp_path / "p3.txt", positives[:-1] + ["A horn honks."])
    assert load_dataset(changed, negatives_file).dataset_hash != load_dataset(positives_file, negatives_file).dataset_hash


def test_prefix_is_put_before_every_sentence(sentence_files):
    dataset = load_dataset(*sentence_files[:2])
    prefixed = dataset.test.with_prefix("Audio of a ")
    assert prefixed.texts == ["Audio of a " + text for text in dataset.test.texts]
    assert prefixed.labels == dataset.test.labels


def test_empty_file_is_refused_by_name(tmp_path, sentence_files):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(DatasetError, match=r"empty\.txt is empty"):
        load_dataset(sentence_files[0], empty)


def test_binary_file_is_refused(tmp_path, sentence_files):
    archive = tmp_path / "audible.txt.gz"
    archive.write_bytes(gzip.compress(b"A dog barks.\n" * 50))
    with pytest.raises(DatasetError, match=r"audible\.txt\.gz is (binary|not UTF-8)"):
        load_dataset(archive, sentence_files[1])


def test_text_in_another_encoding_is_refused(tmp_path, sentence_files):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Un caf\xe9 bruyant.\n".encode("latin-1") * 10)
    with pytest.raises(DatasetError, match="not UTF-8"):
        load_dataset(latin, sentence_files[1])


def test_single_class_is_refused(tmp_path, sentence_files):
    jsonl = tmp_path / "one_class.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": f"A bell {i}.", "label": 1}) for i in range(20)))
    with pytest.raises(DatasetError, match=r"only 0 sentences of label 0"):
        load_dataset(jsonl=jsonl)
    # The same file given as both classes: every sentence is a conflict, nothing is left.
    same = write_lines(tmp_path / "same.txt", [f"A bell {i}." for i in range(20)])
    with pytest.raises(DatasetError, match=r"20 in both classes"):
        load_dataset(same, same)


def test_over_long_line_is_refused_with_its_line_number(tmp_path, sentence_files):
    lines = [f"A dog barks {i}." for i in range(10)] + ["word " * 400]
    with pytest.raises(DatasetError, match=r"long\.txt line 11: sentence is 1999 characters"):
        load_dataset(write_lines(tmp_path / "long.txt", lines), sentence_files[1])


def test_bad_jsonl_records_are_refused_with_their_line(tmp_path):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "A bell.", "label": 1}\n{"text": "oops"\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl line 2: not valid JSON"):
        load_dataset(jsonl=bad_json)
    bad_label = tmp_path / "label.jsonl"
    bad_label.write_text('{"text": "A bell.", "label": "audible"}\n')
    with pytest.raises(DatasetError, match=r"line 1: \"label\" must be 0 or 1"):
        load_dataset(jsonl=bad_label)


def test_missing_file_is_refused(tmp_path, sentence_files):
    with pytest.raises(DatasetError, match=r"nowhere\.txt does not exist"):
        load_dataset(tmp_path / "nowhere.txt", sentence_files[1])


def test_evaluation_split_keeps_every_cleaned_sentence(sentence_files):
    split, counts = evaluation_split(*sentence_files[:2])
    assert len(split) == 90 and sum(split.labels) == 40
    assert counts.positive == 40 and counts.negative == 50


def test_reference_set_cleaning_counts(audibility_files):
    dataset = load_dataset(*audibility_files)
    counts = dataset.counts
    # Every sentence line is read (the shared copy: 5,950 audible and 7,124 not audible).
    lines = [sum(bool(line.strip()) for line in path.read_text(encoding="utf-8").splitlines())
             for path in audibility_files]
    assert [counts.read_positive, counts.read_negative] == lines
    assert counts.positive + counts.duplicates_dropped + counts.conflicts_dropped >= lines[0]
    assert counts.train + counts.validation + counts.test == counts.positive + counts.negative
    assert abs(sum(dataset.test.labels) / len(dataset.test) - counts.positive / (counts.positive + counts.negative)) < 0.01
