"""Caption metrics: the figures pycocoevalcap gives when run directly, BERTScore with the
packaged MiniLM encoder, input-caption similarity and audibility accuracy."""

from __future__ import annotations

import pytest
import torch

from cgcap.metrics.audibility import audibility_accuracy
from cgcap.metrics.coco import coco_caption_metrics
from cgcap.metrics.similarity import similarity_report

REFERENCES = {
    "dog": ["A dog barks loudly.", "a dog is barking in the distance", "A dog barks twice and a man talks."],
    "rain": ["Rain falls on a tin roof.", "heavy rain is falling on a roof", "Rain pours down onto a metal roof."],
    "car": ["A car engine starts and idles.", "an engine revs up", "A vehicle engine is idling."],
}
CANDIDATES = {"dog": "A dog barks loudly.", "rain": "Rain is falling on the roof", "car": "birds sing in a forest"}


@pytest.fixture(scope="module")
def report():
    return coco_caption_metrics(CANDIDATES, REFERENCES)


@pytest.mark.slow  # pycocoevalcap's Java metrics, twice
def test_ngram_metrics_equal_pycocoevalcap_run_directly(report):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in REFERENCES.items()})
    res = tokenizer.tokenize({k: [{"caption": c}] for k, c in CANDIDATES.items()})
    bleu, bleu_items = Bleu(4).compute_score(gts, res, verbose=0)
    expected = {f"BLEU-{n + 1}": bleu[n] for n in range(4)}
    expected["METEOR"], meteor_items = Meteor().compute_score(gts, res)
    expected["ROUGE-L"], _ = Rouge().compute_score(gts, res)
    expected["CIDEr-D"], cider_items = Cider().compute_score(gts, res)
    for name, value in expected.items():
        assert report.corpus[name] == pytest.approx(float(value), abs=1e-9), name
    assert [report.per_item[k]["BLEU-4"] for k in gts] == pytest.approx(bleu_items[3])
    assert [report.per_item[k]["CIDEr-D"] for k in gts] == pytest.approx(list(cider_items))
    assert [report.per_item[k]["METEOR"] for k in gts] == pytest.approx(meteor_items)


@pytest.mark.slow  # pycocoevalcap's Java metrics
def test_a_caption_equal_to_a_reference_outscores_an_unrelated_one(report):
    exact, unrelated = report.per_item["dog"], report.per_item["car"]
    assert exact["BLEU-1"] == pytest.approx(1.0, abs=1e-6)
    assert exact["ROUGE-L"] == pytest.approx(1.0)
    assert unrelated["BLEU-1"] < 0.2 and unrelated["CIDEr-D"] < 0.1
    assert exact["CIDEr-D"] > report.per_item["rain"]["CIDEr-D"] > unrelated["CIDEr-D"]


@pytest.mark.slow  # pycocoevalcap's Java metrics
def test_spice_and_spider_are_unavailable_never_zero_without_corenlp(report):
    # CoreNLP 3.6.0 cannot be downloaded here (docs/OFFLINE.md), so SPICE must say so.
    assert "SPICE" not in report.corpus and "SPIDEr" not in report.corpus
    assert "CoreNLP" in report.unavailable["SPICE"]
    assert "SPICE" in report.unavailable["SPIDEr"]


@pytest.mark.slow  # pycocoevalcap's Java metrics
def test_items_without_references_are_not_scored():
    partial = coco_caption_metrics({"dog": "a dog barks", "x": "anything"}, {"dog": REFERENCES["dog"]})
    assert set(partial.per_item) == {"dog"}
    empty = coco_caption_metrics({"x": "anything"}, {})
    assert not empty.corpus and "reference" in empty.unavailable["CIDEr-D"]


def test_bertscore_with_the_packaged_minilm_ranks_paraphrase_above_unrelated():
    from cgcap.metrics.bertscore import bert_score

    scored = bert_score(CANDIDATES, REFERENCES, encoder="minilm-l6")
    f1 = {key: values["BERTScore-F1"] for key, values in scored.per_item.items()}
    assert f1["dog"] == pytest.approx(1.0, abs=1e-4)  # identical to one reference: best over references
    assert f1["rain"] > f1["car"]
    assert scored.corpus["BERTScore-F1"] == pytest.approx(sum(f1.values()) / 3, abs=1e-6)


class KeywordJudge:
    """A judge with known preferences: P(audible) = 0.9 for texts naming a sound word, else 0.1."""

    SOUND_WORDS = ("bark", "rain", "engine", "sing")

    def score(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([0.9 if any(w in t.lower() for w in self.SOUND_WORDS) else 0.1 for t in texts])


def test_audibility_accuracy_is_the_share_the_judge_labels_audible():
    captions = {"a": "a dog barks", "b": "a blue painting", "c": "rain on a roof", "d": "a quiet idea"}
    report = audibility_accuracy(captions, KeywordJudge())
    assert report.corpus["audibility_accuracy"] == 0.5
    assert report.per_item["a"]["judged_audible"] == 1.0 and report.per_item["b"]["judged_audible"] == 0.0
    assert audibility_accuracy(captions, KeywordJudge(), threshold=0.95).corpus["audibility_accuracy"] == 0.0


def test_similarity_is_cosine_and_grouped_by_modality():
    report = similarity_report({"a1": 0.2, "a2": 0.4, "i1": -0.1}, {"a1": "audio", "a2": "audio", "i1": "image"})
    assert report.corpus == pytest.approx({"CLAP-S": 0.3, "CLIP-S": -0.1})
    assert "video-S" in report.unavailable and report.per_item["i1"] == {"CLIP-S": -0.1}


def test_a_tagger_encoders_similarity_is_reported_under_its_own_name_never_clap_s():
    from cgcap.metrics.similarity import guided_score_name, similarity_name, similarity_names

    assert similarity_name("audio", "yamnet-minilm") == "yamnet-minilm-S"
    assert similarity_name("image", "efficientnet-lite2-minilm") == "efficientnet-lite2-minilm-S"
    assert similarity_name("audio", "tiny:clap@3") == "CLAP-S" and similarity_name("image", "tiny:clip") == "CLIP-S"
    assert similarity_name("audio", "laion/clap-htsat-unfused") == "CLAP-S"
    assert guided_score_name(["image", "audio"], {}) == "video-S" and guided_score_name([], {}) is None
    names = similarity_names("yamnet-minilm", "tiny:clip")
    report = similarity_report({"a1": 0.2, "i1": -0.1}, {"a1": "audio", "i1": "image"}, names)
    assert report.corpus == pytest.approx({"yamnet-minilm-S": 0.2, "CLIP-S": -0.1})
    assert "CLAP-S" not in report.corpus and "CLAP-S" not in report.unavailable


def test_metrics_warmed_while_captions_are_written_give_the_same_figures(report):
    """The job starts METEOR's Java program and builds BERTScore's encoder while its actors caption:
    scoring with them gives the figures a cold start gives, and METEOR's program ends after its one use."""
    from cgcap.config import load_settings
    from cgcap.evaluation.scoring import MetricModels
    from cgcap.metrics.bertscore import bert_score

    settings = load_settings("offline")
    models = MetricModels(bertscore_encoder="minilm-l6")
    models.start_warming(settings)
    meteor = models.meteor
    assert meteor is not None and meteor.meteor_p.poll() is None  # running, loading its tables

    warm = coco_caption_metrics(CANDIDATES, REFERENCES, meteor=models.take_meteor())
    assert models.meteor is None and meteor.meteor_p.poll() is not None  # stopped once used
    assert warm.corpus == report.corpus and warm.per_item == report.per_item

    cold = bert_score(CANDIDATES, REFERENCES, encoder="minilm-l6")
    warmed = bert_score(CANDIDATES, REFERENCES, encoder="minilm-l6", scorer=models.bertscorer.result())
    assert warmed.corpus == pytest.approx(cold.corpus, abs=1e-6)
